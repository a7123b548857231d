using GpuViT.Models.Images;
using GpuViT.Models.Vit;

namespace GpuViT.Tests.Models;

/// <summary>
/// GpuViT's preprocessing against the tensors timm's eval pipeline (torchvision's transforms) and
/// Hugging Face's image processors (PIL and NumPy) make of the same images
/// (tests/fixtures/preprocess, made by make_preprocess_fixtures.py). Each case is the config a hub
/// download carries, beside a tiny model's weights, resolved as `gpuvit run` resolves it; both
/// pipelines round to 8 bits after PIL's resize and then compute in float32, so the outputs should
/// be equal to the last bit.
/// </summary>
public sealed class PreprocessFixtureTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "fixtures", "preprocess");

    /// <summary>Pillow-exact resizing and float32 arithmetic in the same order leave nothing; a wrong filter or crop moves values by over 0.01.</summary>
    private const float Tolerance = 1e-6f;

    private readonly TempDirectory _temp = new("gpuvit-preprocess-");

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> Cases =>
    [
        "timm_center_bilinear", "timm_center_bicubic", "timm_center_nearest", "timm_squash_bicubic", "timm_border_bicubic",
        "hf_vit_bilinear", "hf_crop_bicubic", "hf_shortest_edge_crop",
    ];

    /// <summary>The case's config beside a vit_test_tiny (32×32 input) in the hub's file layout, resolved as `run` does.</summary>
    private Preprocessing Resolve(string name, PreprocessHints? hints = null)
    {
        string directory = Directory.CreateDirectory(Path.Combine(_temp.Path, name)).FullName;
        string weights = Path.Combine(directory, "model.safetensors");
        VitConfig config = VitPresets.VitTestTiny;
        bool timm = name.StartsWith("timm_", StringComparison.Ordinal);
        if (timm)
        {
            // timm's hub file: no metadata; the heads come from the config's architecture.
            WeightLayoutTests.WriteTensors(weights, VitWeights.RandomInit(config, seed: 1).Tensors);
        }
        else
        {
            VitWeightFiles.Save(weights, config, VitWeights.RandomInit(config, seed: 1));
        }

        File.Copy(Path.Combine(Fixtures, name + ".json"), Path.Combine(directory, timm ? "config.json" : PreprocessResolution.HuggingFaceFileName));
        LoadedVit vit = VitWeightFiles.Load(weights);
        Assert.Equal(config, vit.Config);
        return PreprocessResolution.Resolve(vit, weights, hints ?? new PreprocessHints());
    }

    private static RgbImage[] Images() =>
        [.. File.ReadAllLines(Path.Combine(Fixtures, "images.txt")).Where(l => l.Length > 0).Select(f => ImageDecoder.Load(Path.Combine(Fixtures, f)))];

    /// <summary>The largest |GpuViT − reference| over every image of the case.</summary>
    private static float MaxError(string name, EvalTransform transform)
    {
        NpyArray expected = NpyFile.ReadFloat32(Path.Combine(Fixtures, name + ".npy"));
        RgbImage[] images = Images();
        Assert.Equal([images.Length, 3, transform.Size, transform.Size], expected.Shape);
        float worst = 0;
        int plane = 3 * transform.Size * transform.Size;
        for (int i = 0; i < images.Length; i++)
        {
            float[] actual = transform.Apply(images[i]);
            for (int j = 0; j < plane; j++)
            {
                worst = Math.Max(worst, Math.Abs(actual[j] - expected.Data[i * plane + j]));
            }
        }

        return worst;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_config_beside_the_weights_gives_the_reference_pipelines_tensors(string name)
    {
        Preprocessing preprocessing = Resolve(name);

        float error = MaxError(name, preprocessing.Transform);
        TestContext.Current.TestOutputHelper?.WriteLine($"{name}: max |error| {error:R}");

        Assert.True(error <= Tolerance, $"{name}: max |error| {error:R} above {Tolerance:R}");
        Assert.Empty(preprocessing.Warnings);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Another_filter_misses_by_far_more_than_the_tolerance(string name)
    {
        // The tolerance has teeth: the same case with a neighbouring filter is caught.
        EvalTransform right = Resolve(name).Transform;
        Interpolation other = right.Interpolation == Interpolation.Bicubic ? Interpolation.Bilinear : Interpolation.Bicubic;
        EvalTransform wrong = new(right.Size, right.CropPct, right.Mean, right.Std, other, right.CropMode, right.ResizeSize, right.FloorCropOffsets, right.RescaleFactor);

        float error = MaxError(name, wrong);
        TestContext.Current.TestOutputHelper?.WriteLine($"{name} with {PreprocessResolution.Name(other)}: max |error| {error:R}");
        Assert.True(error > 0.01f);
    }

    [Fact]
    public void An_older_hugging_face_file_with_an_int_size_and_no_rescale_keys_is_the_same_processor()
    {
        // google/vit-base-patch16-224's preprocessor_config.json, at 32: ViTFeatureExtractor's keys, transformers' defaults for the rest.
        string name = "hf_vit_bilinear";
        Preprocessing preprocessing = Resolve(name);
        string directory = Path.Combine(_temp.Path, name);
        File.WriteAllText(Path.Combine(directory, PreprocessResolution.HuggingFaceFileName),
            """{"do_normalize": true, "do_resize": true, "feature_extractor_type": "ViTFeatureExtractor", "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 32}""");

        LoadedVit vit = VitWeightFiles.Load(Path.Combine(directory, "model.safetensors"));
        EvalTransform transform = PreprocessResolution.Resolve(vit, Path.Combine(directory, "model.safetensors"), new PreprocessHints()).Transform;

        Assert.Equal(0f, MaxError(name, transform));
        Assert.Equal(preprocessing.Transform.RescaleFactor, transform.RescaleFactor);
    }

    [Fact]
    public void Hugging_face_crops_at_floored_offsets_and_torchvision_rounds_half_to_even()
    {
        // 35 → 32 leaves 3: Hugging Face starts at 1, torchvision at round(1.5) = 2; the fixture is Hugging Face's.
        EvalTransform right = Resolve("hf_crop_bicubic").Transform;
        Assert.True(right.FloorCropOffsets);
        EvalTransform rounded = new(right.Size, right.CropPct, right.Mean, right.Std, right.Interpolation, right.CropMode, right.ResizeSize, floorCropOffsets: false, right.RescaleFactor);

        Assert.True(MaxError("hf_crop_bicubic", rounded) > 0.01f);
    }

    [Fact]
    public void A_sliver_that_border_mode_would_resize_to_nothing_is_a_bad_input_not_a_crash()
    {
        string path = Path.Combine(_temp.Path, "sliver.ppm");
        File.WriteAllBytes(path, InputTests.Ppm(1, 300, new byte[300 * 3]));
        ImageSource source = ImageSource.Open([path], transform: new EvalTransform(8, 1.0, cropMode: CropMode.Border));

        var e = Assert.Throws<InputException>(() => source.Decode(0, 8));

        Assert.Equal($"{path}: a 1x300 image resizes to nothing (0x8) in border mode", e.Message);
    }

    [Fact]
    public void The_sources_say_which_file_gave_each_setting_and_flags_win()
    {
        Preprocessing timm = Resolve("timm_border_bicubic");
        Assert.Equal(["config.json beside model.safetensors"], timm.Sources.Select(s => s.Name));
        Assert.Equal(["image_size 32", "crop_pct 0.96", "crop_mode border", "interpolation bicubic", "mean 0.485,0.456,0.406", "std 0.229,0.224,0.225"], timm.Sources[0].Values);

        Preprocessing flagged = Resolve("hf_vit_bilinear", new PreprocessHints(Interpolation: Interpolation.Bicubic, Mean: [0.1f, 0.2f, 0.3f]));
        Assert.Equal(["the command line", "preprocessor_config.json beside model.safetensors"], flagged.Sources.Select(s => s.Name));
        Assert.Equal(["interpolation bicubic", "mean 0.1,0.2,0.3"], flagged.Sources[0].Values);
        Assert.Equal(Interpolation.Bicubic, flagged.Transform.Interpolation);
        Assert.Equal([0.5f, 0.5f, 0.5f], flagged.Transform.Std);
    }

    [Fact]
    public void An_image_size_the_position_embeddings_do_not_fit_is_one_clear_error()
    {
        var e = Assert.Throws<VitConfigException>(() => Resolve("hf_vit_bilinear", new PreprocessHints(ImageSize: 48)));

        Assert.Equal("image size 48 (from the command line) does not fit the model: its position embeddings are a 4x4 grid of 8-pixel patches, 32x32 images (GpuViT does not resample them)", e.Message);
    }
}
