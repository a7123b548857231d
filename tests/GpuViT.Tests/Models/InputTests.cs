using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using GpuViT.Models;
using GpuViT.Models.Images;

namespace GpuViT.Tests.Models;

/// <summary>
/// Image and array input: decoding (stb_image and the native PPM/PGM reader), timm's eval
/// transform, .npy files and the input loader. The tests write their own small files.
/// </summary>
public sealed class InputTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-inputs-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(string name) => _temp.PathOf(name);

    private string Write(string name, byte[] bytes) => _temp.Write(name, bytes);

    // A 3×2 RGB image with distinct channels per pixel.
    private static readonly byte[] Rgb3x2 =
    [
        255, 0, 0, 0, 255, 0, 0, 0, 255,
        10, 20, 30, 40, 50, 60, 70, 80, 90,
    ];

    // ---- Decoding ----

    [Fact]
    public void Ppm_P6_decodes_as_written()
    {
        RgbImage image = ImageDecoder.Load(Write("a.ppm", Ppm(3, 2, Rgb3x2)));

        Assert.Equal((3, 2), (image.Width, image.Height));
        Assert.Equal(Rgb3x2, image.Pixels);
    }

    [Fact]
    public void Pgm_P5_expands_grey_to_three_channels()
    {
        byte[] grey = [0, 100, 200, 255];
        byte[] file = [.. "P5\n# a comment\n2 2\n255\n"u8, .. grey];

        RgbImage image = ImageDecoder.Decode(file, "g.pgm");

        Assert.Equal([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255], image.Pixels);
    }

    [Fact]
    public void Ascii_P3_and_P2_decode_and_scale_maxval_to_8_bits()
    {
        RgbImage rgb = ImageDecoder.Decode("P3 2 1 15\n15 0 0  0 15 5\n"u8, "a.ppm");
        RgbImage grey = ImageDecoder.Decode("P2\n1 2\n# max\n3\n0\n3\n"u8, "a.pgm");

        Assert.Equal([255, 0, 0, 0, 255, 85], rgb.Pixels);
        Assert.Equal([0, 0, 0, 255, 255, 255], grey.Pixels);
    }

    [Fact]
    public void Sixteen_bit_P6_is_read_big_endian()
    {
        byte[] file = [.. "P6 1 1 65535\n"u8, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00];

        Assert.Equal([255, 128, 0], ImageDecoder.Decode(file, "deep.ppm").Pixels);
    }

    [Fact]
    public void Png_rgb_decodes_through_stb_image()
    {
        RgbImage image = ImageDecoder.Load(Write("a.png", Png(3, 2, colorType: 2, Rgb3x2)));

        Assert.Equal((3, 2), (image.Width, image.Height));
        Assert.Equal(Rgb3x2, image.Pixels);
    }

    [Fact]
    public void Png_alpha_is_dropped_and_grey_is_expanded()
    {
        byte[] rgba = [1, 2, 3, 0, 4, 5, 6, 255];
        byte[] grey = [7, 9];

        Assert.Equal([1, 2, 3, 4, 5, 6], ImageDecoder.Decode(Png(2, 1, colorType: 6, rgba), "rgba.png").Pixels);
        Assert.Equal([7, 7, 7, 9, 9, 9], ImageDecoder.Decode(Png(1, 2, colorType: 0, grey), "grey.png").Pixels);
    }

    [Fact]
    public void Bmp_decodes_through_stb_image()
    {
        RgbImage image = ImageDecoder.Load(Write("a.bmp", Bmp(3, 2, Rgb3x2)));

        Assert.Equal((3, 2), (image.Width, image.Height));
        Assert.Equal(Rgb3x2, image.Pixels);
    }

    [Fact]
    public void Jpeg_decodes_through_stb_image_and_grey_expands()
    {
        RgbImage image = ImageDecoder.Load(Write("grey.jpg", GreyJpeg8x8()));

        Assert.Equal((8, 8), (image.Width, image.Height));
        Assert.All(image.Pixels, v => Assert.InRange(v, 159, 161)); // 160 up to the IDCT's rounding
    }

    [Fact]
    public void Corrupt_jpeg_is_an_input_error_naming_the_file()
    {
        // A JPEG start-of-image marker, then an APP0 segment that runs past the end of the file.
        string path = Write("photo.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 1, 2, 3]);

        var e = Assert.Throws<InputException>(() => ImageDecoder.Load(path));

        Assert.Equal($"{path}: truncated JPEG: a segment runs past the end of the file", e.Message);
    }

    [Fact]
    public void Jpeg_whose_data_is_cut_short_names_the_file_its_size_and_stb_reason()
    {
        byte[] jpeg = GreyJpeg8x8();
        string path = Write("cut.jpg", jpeg[..(jpeg.Length - 40)]);

        var e = Assert.Throws<InputException>(() => ImageDecoder.Load(path));

        Assert.StartsWith($"{path}: cannot decode the 8x8 image (stb_image: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    public static TheoryData<string, byte[], string> BadImages => new()
    {
        { "empty.png", [], "empty file" },
        { "text.png", "hello, world"u8.ToArray(), "not a PNG, JPEG, BMP, PPM or PGM image" },
        { "short.ppm", "P6 4 4 255\n\x01\x02"u8.ToArray(), "truncated P6 image" },
        { "zero.pgm", "P5 0 4 255\n"u8.ToArray(), "size 0x4" },
        { "maxval.pgm", "P2 1 1 70000\n1\n"u8.ToArray(), "maxval 70000" },
        { "over.pgm", "P2 1 1 10\n11\n"u8.ToArray(), "sample 11 above maxval 10" },
        { "header.ppm", "P6 4\n"u8.ToArray(), "expected the height" },
    };

    [Theory]
    [MemberData(nameof(BadImages))]
    public void Bad_images_give_one_line_naming_the_file(string name, byte[] bytes, string problem)
    {
        string path = Write(name, bytes);

        AssertOneLineNamingTheFile(path, problem, () => ImageDecoder.Load(path));
    }

    // ---- Size limits and file kinds, checked before anything is decoded ----

    public static TheoryData<string, byte[], string> ImagesOverTheLimit => new()
    {
        // stb's own header check calls a PNG this large "unknown image type".
        { "huge.png", HostileFiles.LyingPng(20000, 20000), "20000x20000 (400000000 pixels)" },
        // Under stb's limits, so it used to be decoded: 1.5 GB for a PNG of zeros.
        { "big.png", HostileFiles.LyingPng(16000, 16000), "16000x16000 (256000000 pixels)" },
        { "huge.jpg", HostileFiles.JpegHeader(65535, 65535), "65535x65535 (4294836225 pixels)" },
        { "huge.bmp", BmpHeader(100000, -100000), "100000x100000 (10000000000 pixels)" },
        { "huge.ppm", "P6 70000 70000 255\n"u8.ToArray(), "70000x70000 (4900000000 pixels)" },
    };

    // A BMP's file and info headers alone, for a size given (a negative height: rows top-down).
    private static byte[] BmpHeader(int width, int height)
    {
        byte[] header = Bmp(1, 1, [0, 0, 0])[..54];
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(22), height);
        return header;
    }

    [Theory]
    [MemberData(nameof(ImagesOverTheLimit))]
    public void An_image_over_the_pixel_limit_is_refused_from_its_header_naming_its_size(string name, byte[] bytes, string size)
    {
        string path = Write(name, bytes);

        var e = Assert.Throws<InputException>(() => ImageDecoder.Load(path));

        Assert.Equal($"{path}: image is {size}, more than the limit of {ImageDecoder.DefaultMaxPixels} (--max-image-pixels raises it)", e.Message);
    }

    [Fact]
    public void The_pixel_limit_is_the_callers()
    {
        byte[] png = Png(3, 2, colorType: 2, Rgb3x2);
        string path = Write("six.png", png);

        Assert.Contains("image is 3x2 (6 pixels), more than the limit of 5", Assert.Throws<InputException>(() => ImageDecoder.Load(path, maxPixels: 5)).Message);
        Assert.Contains("more than the limit of 5", Assert.Throws<InputException>(() => ImageDecoder.Decode(png, "six.png", maxPixels: 5)).Message);
        Assert.Equal(Rgb3x2, ImageDecoder.Load(path, maxPixels: 6).Pixels);
    }

    [Fact]
    public void A_png_whose_data_is_shorter_than_its_header_says_names_the_file_and_its_size()
    {
        string path = Write("lying.png", HostileFiles.LyingPng(300, 200));

        var e = Assert.Throws<InputException>(() => ImageDecoder.Load(path));

        Assert.StartsWith($"{path}: cannot decode the 300x200 image (stb_image: ", e.Message);
    }

    [Fact]
    public void Anything_but_a_regular_file_is_refused_before_it_is_opened_and_a_fifo_does_not_hang()
    {
        string fifo = HostileFiles.Fifo(PathOf("pipe.png"));
        string directory = Directory.CreateDirectory(PathOf("dir.png")).FullName;

        // Opening a FIFO to read blocks until a writer comes: a hang is a failure, not a stuck suite.
        Assert.Equal($"{fifo}: is a named pipe (FIFO), not a regular file",
            HostileFiles.WithoutHanging(() => Assert.Throws<InputException>(() => ImageDecoder.Load(fifo))).Message);
        Assert.Equal("/dev/zero: is a character device, not a regular file", Assert.Throws<InputException>(() => ImageDecoder.Load("/dev/zero")).Message);
        Assert.Equal($"{directory}: is a directory, not a file", Assert.Throws<InputException>(() => ImageDecoder.Load(directory)).Message);
        Assert.Equal($"{fifo}: is a named pipe (FIFO), not a regular file",
            HostileFiles.WithoutHanging(() => Assert.Throws<InputException>(() => NpyFile.ReadShape(fifo))).Message);
    }

    [Fact]
    public void Regular_file_says_what_else_a_path_is()
    {
        Assert.Null(RegularFile.Problem(Write("a.png", [1])));
        Assert.Equal("no such file", RegularFile.Problem(PathOf("absent")));
        Assert.Equal("is a directory, not a file", RegularFile.Problem(_temp.Path));
        Assert.Equal("is a character device, not a regular file", RegularFile.Problem("/dev/null"));
        Assert.Equal("is a named pipe (FIFO), not a regular file", RegularFile.Problem(HostileFiles.Fifo(PathOf("fifo"))));
    }

    // ---- Eval transform ----

    [Fact]
    public void Transform_downscales_like_Pillow_bilinear_and_normalises()
    {
        // 4×4 → short side 2 (size 2, crop_pct 1): Pillow's antialiased bilinear weights are
        // (3, 3, 1)/7 for output 0 and (1, 3, 3)/7 for output 1, in 22-bit fixed point.
        // R varies along x, G along x, B along y, so both passes are checked.
        var image = new byte[4 * 4 * 3];
        byte[] red = [70, 70, 70, 0], green = [0, 0, 0, 140], blue = [7, 7, 7, 0];
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
            {
                int p = (y * 4 + x) * 3;
                (image[p], image[p + 1], image[p + 2]) = (red[x], green[x], blue[y]);
            }
        var transform = new EvalTransform(2, cropPct: 1.0);

        float[] output = transform.Apply(new RgbImage(4, 4, image));

        // (3·70 + 3·70 + 70)/7 = 70, (70 + 3·70 + 0)/7 = 40; (0 + 0 + 3·140)/7 = 60; 7 and (7 + 21)/7 = 4.
        byte[][] expected = [[70, 40, 70, 40], [0, 60, 0, 60], [7, 7, 4, 4]];
        float[] mean = EvalTransform.ImageNetMean, std = EvalTransform.ImageNetStd;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 4; i++)
                Assert.Equal((expected[c][i] / 255f - mean[c]) / std[c], output[c * 4 + i]);
    }

    [Fact]
    public void Transform_without_resize_is_a_centre_crop_in_CHW()
    {
        // 2 wide, 5 tall, size 2, crop_pct 1: no resize; crop top = round((5 − 2)/2) = round(1.5) = 2 (half to even).
        var pixels = new byte[2 * 5 * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)i;
        var transform = new EvalTransform(2, cropPct: 1.0, mean: [0, 0, 0], std: [1, 1, 1]);

        float[] output = transform.Apply(new RgbImage(2, 5, pixels));

        // Row 2 starts at pixel 4 (byte 12); channel c of pixel p is byte 3p + c.
        float[] expected = [.. new[] { 12, 15, 18, 21, 13, 16, 19, 22, 14, 17, 20, 23 }.Select(v => v / 255f)];
        Assert.Equal(expected, output);
    }

    [Fact]
    public void Resize_sizes_follow_timm_for_224_and_crop_pct_0875()
    {
        var transform = new EvalTransform(224);

        Assert.Equal(256, transform.ResizeSize);
        Assert.Equal((341, 256), EvalTransform.ResizedSize(640, 480, 256));
        Assert.Equal((256, 341), EvalTransform.ResizedSize(480, 640, 256));
        Assert.Equal(3 * 224 * 224, transform.Apply(new RgbImage(640, 480, new byte[640 * 480 * 3])).Length);
    }

    [Fact]
    public void Resize_keeps_a_constant_image_constant_up_and_down()
    {
        var pixels = new byte[7 * 5 * 3];
        Array.Fill(pixels, (byte)123);
        var image = new RgbImage(7, 5, pixels);

        Assert.All(EvalTransform.Resize(image, 3, 2).Pixels, v => Assert.Equal(123, v));
        Assert.All(EvalTransform.Resize(image, 20, 11).Pixels, v => Assert.Equal(123, v));
        Assert.All(EvalTransform.Resize(image, 3, 2, Interpolation.Bicubic).Pixels, v => Assert.Equal(123, v));
        Assert.All(EvalTransform.Resize(image, 20, 11, Interpolation.Bicubic).Pixels, v => Assert.Equal(123, v));
    }

    [Fact]
    public void Bicubic_upscale_matches_Pillow_weights_including_the_negative_lobe()
    {
        // 2 → 4 with a = −0.5: outputs 0 and 3 weigh the pixels (37, −3)/34 and (−3, 37)/34,
        // outputs 1 and 2 weigh them (111, 29)/140 and (29, 111)/140.
        var image = new RgbImage(2, 1, [34, 0, 0, 68, 0, 0]);

        RgbImage resized = EvalTransform.Resize(image, 4, 1, Interpolation.Bicubic);

        Assert.Equal([31, 41, 61, 71], new[] { 0, 1, 2, 3 }.Select(x => resized[x, 0, 0]));
    }

    // ---- .npy ----

    [Theory]
    [InlineData(new int[] { 2, 3 })]
    [InlineData(new int[] { 5 })]
    [InlineData(new int[] { 2, 3, 4, 5 })]
    [InlineData(new int[] { })]
    public void Npy_round_trips_and_aligns_the_data_to_64_bytes(int[] shape)
    {
        int count = shape.Aggregate(1, (a, b) => a * b);
        float[] data = [.. Enumerable.Range(0, count).Select(i => i * 0.5f - 3)];
        string path = PathOf("a.npy");

        NpyFile.WriteFloat32(path, data, shape);
        NpyArray read = NpyFile.ReadFloat32(path);

        Assert.Equal(shape, read.Shape);
        Assert.Equal(data, read.Data);
        Assert.Equal(0, (new FileInfo(path).Length - count * 4) % 64);
        Assert.Single(Directory.GetFiles(_temp.Path)); // no temporary file left behind
    }

    [Fact]
    public void Npy_writer_replaces_an_existing_file()
    {
        string path = PathOf("logits.npy");
        NpyFile.WriteFloat32(path, [1, 2, 3, 4], [2, 2]);
        NpyFile.WriteFloat32(path, [9, 8], [1, 2]);

        Assert.Equal([9f, 8f], NpyFile.ReadFloat32(path).Data);
    }

    [Fact]
    public void Npy_header_is_written_as_numpy_writes_it()
    {
        string path = PathOf("h.npy");
        NpyFile.WriteFloat32(path, new float[6], [2, 3]);
        byte[] bytes = File.ReadAllBytes(path);

        Assert.Equal(NpyMagic, bytes[..6]);
        Assert.Equal([1, 0], bytes[6..8]);
        int length = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        string header = Encoding.Latin1.GetString(bytes, 10, length);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", header);
        Assert.EndsWith("\n", header);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Npy_reads_versions_1_2_and_3_with_any_key_order(int version)
    {
        byte[] file = Npy(version, "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}", [1.5f, -2, 4]);

        NpyArray array = NpyFile.ReadFloat32(new MemoryStream(file), "v.npy");

        Assert.Equal([3], array.Shape);
        Assert.Equal([1.5f, -2, 4], array.Data);
    }

    public static TheoryData<string, byte[], string> BadNpy => new()
    {
        { "f8.npy", Npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", [0, 0]), "dtype '<f8' is not supported" },
        { "big.npy", Npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", [0]), "dtype '>f4'" },
        { "fortran.npy", Npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", [0]), "Fortran order" },
        { "short.npy", Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", [0, 1]), "truncated .npy data" },
        { "nokey.npy", Npy(1, "{'descr': '<f4', 'shape': (1,), }", [0]), "needs 'descr', 'fortran_order' and 'shape'" },
        { "garbage.npy", Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }", [0]), "corrupt .npy header" },
        { "v9.npy", [.. NpyMagic, 9, 0, 0, 0], "unsupported .npy version 9.0" },
        { "plain.npy", "not numpy at all"u8.ToArray(), "not a .npy file" },
    };

    [Theory]
    [MemberData(nameof(BadNpy))]
    public void Bad_npy_files_give_one_line_naming_the_file(string name, byte[] bytes, string problem)
    {
        string path = Write(name, bytes);

        AssertOneLineNamingTheFile(path, problem, () => NpyFile.ReadFloat32(path));
    }

    /// <summary>Loading fails with an input error of one line that starts with the file and names the problem.</summary>
    private static void AssertOneLineNamingTheFile(string path, string problem, Action load)
    {
        var e = Assert.Throws<InputException>(load);

        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    // ---- Loader ----

    [Fact]
    public void Directory_inputs_are_image_files_sorted_by_name_whatever_their_format()
    {
        string images = Directory.CreateDirectory(PathOf("images")).FullName;
        byte[] black = new byte[3 * 2 * 3], white = Enumerable.Repeat((byte)255, 3 * 2 * 3).ToArray();
        File.WriteAllBytes(Path.Combine(images, "b.ppm"), Ppm(3, 2, white));
        File.WriteAllBytes(Path.Combine(images, "a.png"), Png(3, 2, colorType: 2, black));
        File.WriteAllBytes(Path.Combine(images, "c.BMP"), Bmp(3, 2, white));
        File.WriteAllText(Path.Combine(images, "notes.txt"), "not an image");
        string single = Write("z.ppm", Ppm(3, 2, black));

        ImageSource source = ImageSource.Open([single, images], transform: new EvalTransform(224, 1.0, [0, 0, 0], [1, 1, 1]));

        Assert.Equal([single, Path.Combine(images, "a.png"), Path.Combine(images, "b.ppm"), Path.Combine(images, "c.BMP")],
            Enumerable.Range(0, source.Count).Select(source.Name));
        // First value of each image's red plane at 2×2: black, black, white, white.
        Assert.Equal([0f, 0f, 1f, 1f], Enumerable.Range(0, source.Count).Select(i => source.Decode(i, 2)[0]));
    }

    [Fact]
    public void With_arrays_kept_as_they_are_an_npy_of_the_wrong_shape_names_the_file_and_the_expected_shape()
    {
        string path = PathOf("wrong.npy");
        NpyFile.WriteFloat32(path, new float[2 * 3 * 4 * 4], [2, 3, 4, 4]);
        ImageSource source = ImageSource.Open([path], resizeArrays: false);

        var e = Assert.Throws<InputException>(() => source.Decode(0, 2));

        Assert.Equal($"{path}: array of shape (2, 3, 4, 4) does not fit the model's input [N, 3, 2, 2]", e.Message);
    }

    [Theory]
    [InlineData(2_000_000)] // whole
    [InlineData(10)]        // its header alone: refused before any pixel is decoded or any memory reserved for it
    public void An_image_too_thin_to_resize_names_the_file(int pixelBytes)
    {
        string path = Write("sliver.pgm", [.. "P5 1 2000000 255\n"u8, .. new byte[pixelBytes]]);

        var e = Assert.Throws<InputException>(() => ImageSource.Open([path]).Decode(0, 224));

        Assert.StartsWith($"{path}: a 1x2000000 image resizes to 256x512000000", e.Message);
    }

    [Fact]
    public void Npy_we_write_loads_in_numpy()
    {
        // test.sh installs Debian's python3-numpy; without it this fails and says so.
        const string python = "/usr/bin/python3";
        string path = PathOf("n.npy");
        NpyFile.WriteFloat32(path, [1, 2, 3, 4, 5, 6], [2, 3]);
        var info = new System.Diagnostics.ProcessStartInfo(python)
        {
            ArgumentList = { "-c", "import sys, numpy as np; a = np.load(sys.argv[1]); print(a.dtype, a.shape, a.sum())", path },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd().Trim();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(output == "float32 (2, 3) 21.0", $"numpy read '{output}' ({error.Trim()}); test.sh installs python3-numpy");
    }

    // ---- Writers for the test files ----

    private static readonly byte[] NpyMagic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    internal static byte[] Ppm(int width, int height, byte[] rgb) => [.. Encoding.ASCII.GetBytes($"P6\n{width} {height}\n255\n"), .. rgb];

    /// <summary>
    /// A baseline JPEG of one 8×8 grey block at level 160: quantisation all 1, a DC table whose only
    /// code ("0") means category 9, an AC table whose only code ("0") is end-of-block. The DC
    /// coefficient is (160 − 128) × 8 = 256, so the scan is "0", "100000000", "0", padded with 1s.
    /// </summary>
    private static byte[] GreyJpeg8x8()
    {
        var jpeg = new List<byte> { 0xFF, 0xD8 };
        jpeg.AddRange([0xFF, 0xDB, 0, 67, 0x00, .. Enumerable.Repeat((byte)1, 64)]);
        jpeg.AddRange([0xFF, 0xC0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        jpeg.AddRange([0xFF, 0xC4, 0, 20, 0x00, 1, .. new byte[15], 9]);
        jpeg.AddRange([0xFF, 0xC4, 0, 20, 0x10, 1, .. new byte[15], 0x00]);
        jpeg.AddRange([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
        jpeg.AddRange([0b0100_0000, 0b0001_1111]);
        jpeg.AddRange([0xFF, 0xD9]);
        return [.. jpeg];
    }

    /// <summary>A 24-bit BMP: BGR rows bottom-up, each padded to 4 bytes.</summary>
    private static byte[] Bmp(int width, int height, byte[] rgb)
    {
        int stride = (width * 3 + 3) / 4 * 4, size = 54 + stride * height;
        var bmp = new byte[size];
        "BM"u8.CopyTo(bmp);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), size);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), stride * height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int s = (y * width + x) * 3, d = 54 + (height - 1 - y) * stride + x * 3;
                (bmp[d], bmp[d + 1], bmp[d + 2]) = (rgb[s + 2], rgb[s + 1], rgb[s]);
            }
        return bmp;
    }

    /// <summary>An 8-bit PNG (colour type 0 grey, 2 RGB, 6 RGBA) with filter 0 rows in one stored-deflate IDAT.</summary>
    internal static byte[] Png(int width, int height, byte colorType, byte[] pixels)
    {
        int channels = colorType switch { 0 => 1, 2 => 3, 6 => 4, _ => throw new ArgumentException("colour type") };
        var raw = new MemoryStream();
        for (int y = 0; y < height; y++)
        {
            raw.WriteByte(0);
            raw.Write(pixels, y * width * channels, width * channels);
        }
        var zlib = new MemoryStream();
        using (var z = new ZLibStream(zlib, CompressionLevel.NoCompression, leaveOpen: true))
            z.Write(raw.ToArray());

        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        (ihdr[8], ihdr[9]) = (8, colorType);
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", zlib.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    internal static void Chunk(Stream png, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        png.Write(word);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A .npy with the given header dict, padded like numpy's; version 1 has a 2-byte length, 2 and 3 a 4-byte one.</summary>
    internal static byte[] Npy(int version, string dict, float[] data)
    {
        int prelude = version == 1 ? 10 : 12;
        int padded = (prelude + dict.Length + 1 + 63) / 64 * 64 - prelude;
        byte[] header = Encoding.ASCII.GetBytes(dict.PadRight(padded - 1) + "\n");
        var file = new MemoryStream();
        file.Write(NpyMagic);
        file.Write([(byte)version, 0]);
        if (version == 1) file.Write(BitConverter.GetBytes((ushort)header.Length));
        else file.Write(BitConverter.GetBytes((uint)header.Length));
        file.Write(header);
        foreach (float f in data) file.Write(BitConverter.GetBytes(f));
        return file.ToArray();
    }
}
