using System.Text;
using GpuViT.Models.Images;

namespace GpuViT.Tests.Models;

/// <summary>
/// <see cref="ImageSource"/>: numbered images decoded on demand at any size, from files,
/// directories, .npy arrays and noise, from many threads. The tests write their own small files.
/// </summary>
public sealed class ImageSourceTests : IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-source-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(string name) => _temp.PathOf(name);

    /// <summary>An image of pseudo-random pixels, PNG or PPM by the path's extension.</summary>
    private static string WriteImage(string path, int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        File.WriteAllBytes(path, path.EndsWith(".png", StringComparison.Ordinal) ? InputTests.Png(width, height, colorType: 2, pixels) : InputTests.Ppm(width, height, pixels));
        return path;
    }

    private string WriteNpy(string name, float[] data, int[] shape)
    {
        string path = PathOf(name);
        NpyFile.WriteFloat32(path, data, shape);
        return path;
    }

    private static float[] Ramp(int count) => [.. Enumerable.Range(0, count).Select(i => i * 0.25f - 5)];

    [Fact]
    public void Inputs_keep_the_order_given_and_are_named_by_path_and_array_index()
    {
        string images = Directory.CreateDirectory(PathOf("images")).FullName;
        WriteImage(Path.Combine(images, "b.ppm"), 3, 2, 1);
        WriteImage(Path.Combine(images, "a.ppm"), 3, 2, 2);
        File.WriteAllText(Path.Combine(images, "notes.txt"), "not an image");
        string npy = WriteNpy("x.npy", new float[2 * 3 * 4 * 4], [2, 3, 4, 4]);
        string single = WriteImage(PathOf("z.ppm"), 5, 5, 3);

        ImageSource source = ImageSource.Open([single, npy, images]);

        Assert.Equal(5, source.Count);
        Assert.Equal([single, $"{npy}[0]", $"{npy}[1]", Path.Combine(images, "a.ppm"), Path.Combine(images, "b.ppm")],
            Enumerable.Range(0, source.Count).Select(source.Name));
    }

    [Fact]
    public void Images_of_mixed_sizes_all_decode_at_the_size_asked_for_as_the_eval_transform_does()
    {
        string images = Directory.CreateDirectory(PathOf("mixed")).FullName;
        string[] paths =
        [
            WriteImage(Path.Combine(images, "a.ppm"), 7, 5, 1),
            WriteImage(Path.Combine(images, "b.png"), 3, 9, 2),
            WriteImage(Path.Combine(images, "c.ppm"), 16, 16, 3),
        ];
        float[] mean = [0.5f, 0.4f, 0.3f], std = [0.2f, 0.25f, 0.3f];
        ImageSource source = ImageSource.Open([images], transform: new EvalTransform(224, 0.9, mean, std, Interpolation.Bicubic));

        foreach (int size in new[] { 4, 8, 24 })
        {
            var transform = new EvalTransform(size, 0.9, mean, std, Interpolation.Bicubic);
            for (int i = 0; i < paths.Length; i++)
                Assert.Equal(transform.Apply(ImageDecoder.Load(paths[i])), source.Decode(i, size));
        }
    }

    [Fact]
    public void With_resize_off_an_image_of_the_size_is_only_normalised_and_another_size_is_an_error()
    {
        var pixels = new byte[4 * 4 * 3];
        new Random(7).NextBytes(pixels);
        string square = PathOf("square.ppm");
        File.WriteAllBytes(square, InputTests.Ppm(4, 4, pixels));
        string wide = WriteImage(PathOf("wide.ppm"), 7, 5, 1);
        ImageSource source = ImageSource.Open([square, wide], resize: false);

        float[] decoded = source.Decode(0, 4);
        float[] mean = EvalTransform.ImageNetMean, std = EvalTransform.ImageNetStd;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 16; p++)
                Assert.Equal((pixels[p * 3 + c] / 255f - mean[c]) / std[c], decoded[c * 16 + p]);

        Assert.Equal($"{square}: the image is 4×4, not 8×8, and resizing is off",
            Assert.Throws<InputException>(() => source.Decode(0, 8)).Message);
        Assert.Equal($"{wide}: the image is 7×5, not 4×4, and resizing is off",
            Assert.Throws<InputException>(() => source.Decode(1, 4)).Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_npy_at_its_own_size_is_used_as_it_is(bool resize)
    {
        float[] data = Ramp(3 * 3 * 5 * 5);
        string path = WriteNpy("own.npy", data, [3, 3, 5, 5]);
        ImageSource source = ImageSource.Open([path], resize);

        Assert.Equal(3, source.Count);
        for (int i = 0; i < 3; i++)
            Assert.Equal(data[(i * 75)..((i + 1) * 75)], source.Decode(i, 5));
    }

    [Fact]
    public void An_npy_of_another_size_is_resized_and_a_constant_image_stays_constant()
    {
        float[] data = new float[2 * 3 * 6 * 10];
        Array.Fill(data, -1.25f, 0, 180);
        Array.Fill(data, 2.5f, 180, 180);
        ImageSource source = ImageSource.Open([WriteNpy("c.npy", data, [2, 3, 6, 10])]);

        foreach (int size in new[] { 3, 8, 17 })
        {
            float[] first = source.Decode(0, size), second = source.Decode(1, size);
            Assert.Equal(3 * size * size, first.Length);
            Assert.All(first, v => Assert.Equal(-1.25f, v, 5));
            Assert.All(second, v => Assert.Equal(2.5f, v, 5));
        }
    }

    [Fact]
    public void Npy_resize_antialiases_down_and_is_half_pixel_bilinear_up()
    {
        // Each channel a ramp along x, constant along y. 4 → 2 takes Pillow's widened triangle,
        // weights (3, 3, 1)/7 and (1, 3, 3)/7; 2 → 4 is bilinear with align_corners=False.
        float[] down = [.. Enumerable.Range(0, 3 * 4 * 4).Select(i => (float)(i % 4))];
        float[] up = [.. Enumerable.Range(0, 3 * 2 * 2).Select(i => (float)(i % 2))];
        ImageSource source = ImageSource.Open([WriteNpy("down.npy", down, [1, 3, 4, 4]), WriteNpy("up.npy", up, [1, 3, 2, 2])]);

        float[] halved = source.Decode(0, 2), doubled = source.Decode(1, 4);

        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 2; y++)
                Assert.Equal([5 / 7f, 16 / 7f], halved.AsSpan(c * 4 + y * 2, 2).ToArray(), (a, b) => Math.Abs(a - b) < 1e-6);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 4; y++)
                Assert.Equal([0f, 0.25f, 0.75f, 1f], doubled.AsSpan(c * 16 + y * 4, 4).ToArray());
    }

    [Fact]
    public void With_resize_off_an_npy_of_another_size_names_the_file_and_the_shapes()
    {
        string path = WriteNpy("wrong.npy", new float[2 * 3 * 4 * 4], [2, 3, 4, 4]);
        ImageSource source = ImageSource.Open([path], resize: false);

        var e = Assert.Throws<InputException>(() => source.Decode(1, 2));

        Assert.Equal($"{path}: array of shape (2, 3, 4, 4) does not fit the model's input [N, 3, 2, 2], and resizing is off", e.Message);
    }

    [Fact]
    public void Synthetic_images_depend_only_on_seed_and_index_not_on_thread_or_order()
    {
        const int count = 48, size = 17; // an odd number of values per image
        ImageSource source = ImageSource.Synthetic(count, seed: 5);
        float[][] sequential = [.. Enumerable.Range(0, count).Select(i => source.Decode(i, size))];
        var parallel = new float[count][];

        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => parallel[count - 1 - i] = source.Decode(count - 1 - i, size));

        Assert.Equal(sequential, parallel);
        Assert.Equal(sequential[3], ImageSource.Synthetic(count, seed: 5).Decode(3, size));
        Assert.NotEqual(sequential[3], ImageSource.Synthetic(count, seed: 6).Decode(3, size));
        Assert.NotEqual(sequential[3], sequential[4]);
        Assert.All(sequential.SelectMany(v => v), v => Assert.InRange(v, -2f, 2f));
        double mean = sequential.SelectMany(v => v).Average();
        Assert.InRange(mean, -0.1, 0.1);
        Assert.Equal("synthetic[3]", source.Name(3));
    }

    [Fact]
    public void Missing_paths_empty_directories_and_bad_npy_headers_fail_at_open()
    {
        string missing = PathOf("missing.png");
        string empty = Directory.CreateDirectory(PathOf("empty")).FullName;
        string f8 = WriteNpy("f8.npy", new float[2], [1, 2]);
        byte[] bytes = File.ReadAllBytes(f8);
        File.WriteAllBytes(f8, Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(bytes).Replace("'<f4'", "'<f8'")));
        string rank = WriteNpy("rank.npy", new float[3 * 4 * 4], [3, 4, 4]);
        string grey = WriteNpy("grey.npy", new float[2 * 1 * 4 * 4], [2, 1, 4, 4]);
        string none = WriteNpy("none.npy", [], [0, 3, 4, 4]);

        InputException Fails(string path) => Assert.Throws<InputException>(() => ImageSource.Open([path]));

        Assert.Equal($"{missing}: no such file or directory", Fails(missing).Message);
        Assert.StartsWith($"{empty}: directory has no images", Fails(empty).Message);
        Assert.StartsWith($"{f8}: dtype '<f8' is not supported", Fails(f8).Message);
        Assert.Equal($"{rank}: array of shape (3, 4, 4) is not images [N, 3, H, W]", Fails(rank).Message);
        Assert.Equal($"{grey}: array of shape (2, 1, 4, 4) is not images [N, 3, H, W]", Fails(grey).Message);
        Assert.Equal($"{none}: array holds no inputs (N = 0)", Fails(none).Message);
        Assert.Equal("no inputs given", Assert.Throws<InputException>(() => ImageSource.Open([])).Message);
    }

    [Fact]
    public void A_corrupt_image_opens_and_fails_when_decoded_naming_the_file()
    {
        string corrupt = PathOf("corrupt.png");
        File.WriteAllBytes(corrupt, [1, 2, 3]);
        ImageSource source = ImageSource.Open([corrupt]);

        var e = Assert.Throws<InputException>(() => source.Decode(0, 8));

        Assert.StartsWith($"{corrupt}: not a PNG", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_device_or_a_fifo_given_as_an_input_fails_at_open_without_being_read()
    {
        string fifo = HostileFiles.Fifo(PathOf("pipe.png"));

        Assert.Equal("/dev/zero: is a character device, not a regular file", Assert.Throws<InputException>(() => ImageSource.Open(["/dev/zero"])).Message);
        Assert.Equal($"{fifo}: is a named pipe (FIFO), not a regular file", Assert.Throws<InputException>(() => ImageSource.Open([fifo])).Message);
    }

    [Fact]
    public void A_fifo_in_a_directory_fails_when_decoded_and_does_not_hang()
    {
        string directory = Directory.CreateDirectory(PathOf("photos")).FullName;
        WriteImage(Path.Combine(directory, "a.png"), 8, 8, seed: 1);
        string fifo = HostileFiles.Fifo(Path.Combine(directory, "b.png"));
        ImageSource source = ImageSource.Open([directory]);

        var e = HostileFiles.WithoutHanging(() => Assert.Throws<InputException>(() => source.Decode(1, 8)));

        Assert.Equal($"{fifo}: is a named pipe (FIFO), not a regular file", e.Message);
        Assert.Equal(3 * 8 * 8, source.Decode(0, 8).Length);
    }

    [Fact]
    public void The_pixel_limit_given_at_open_applies_to_every_image()
    {
        string path = WriteImage(PathOf("a.png"), 10, 10, seed: 1);

        var e = Assert.Throws<InputException>(() => ImageSource.Open([path], maxImagePixels: 99).Decode(0, 8));

        Assert.Equal($"{path}: image is 10x10 (100 pixels), more than the limit of 99 (--max-image-pixels raises it)", e.Message);
        Assert.Equal(3 * 8 * 8, ImageSource.Open([path], maxImagePixels: 100).Decode(0, 8).Length);
    }

    [Fact]
    public async Task A_reservation_waits_while_others_hold_the_budget_and_a_larger_one_runs_alone()
    {
        var budget = new MemoryBudget(100);
        var first = budget.Reserve(60);

        var second = Task.Run(() => budget.Reserve(60));
        await Task.Delay(200);
        Assert.False(second.IsCompleted, "60 + 60 bytes were held at once in a budget of 100");
        first.Dispose();
        MemoryBudget.Reservation held = await second.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(60, budget.HeldBytes);

        var huge = Task.Run(() => budget.Reserve(1000));
        await Task.Delay(200);
        Assert.False(huge.IsCompleted, "a reservation larger than the budget ran beside another");
        held.Dispose();
        MemoryBudget.Reservation alone = await huge.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(100, budget.HeldBytes);
        alone.Dispose();
        alone.Dispose(); // twice gives back once
        Assert.Equal(0, budget.HeldBytes);
    }

    [Fact]
    public void Decode_checks_its_arguments()
    {
        ImageSource source = ImageSource.Synthetic(2);

        Assert.Throws<ArgumentException>(() => source.Decode(0, 4, new float[3 * 4 * 4 - 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => source.Decode(2, 4, new float[3 * 4 * 4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => source.Decode(-1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => source.Decode(0, 0));
    }

    [Fact]
    public void An_npy_is_decoded_from_many_threads_at_once_and_read_only_once()
    {
        const int images = 16;
        float[] data = Ramp(images * 3 * 8 * 8);
        string path = WriteNpy("shared.npy", data, [images, 3, 8, 8]);
        ImageSource source = ImageSource.Open([path]);
        float[][] expected6 = [.. Enumerable.Range(0, images).Select(i => ImageSource.Open([path]).Decode(i, 6))];
        var results = new float[400][];

        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 16 },
            k => results[k] = source.Decode(k % images, k % 2 == 0 ? 8 : 6));

        for (int k = 0; k < results.Length; k++)
        {
            int i = k % images;
            Assert.Equal(k % 2 == 0 ? data[(i * 192)..((i + 1) * 192)] : expected6[i], results[k]);
        }
        File.Delete(path); // the data was kept: no image reads the file again
        Assert.Equal(data[..192], source.Decode(0, 8));
    }
}
