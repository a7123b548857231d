using System.Text.Json;
using GpuViT.Host;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Tests.Models;
using static GpuViT.Tests.Host.CliHarness;

namespace GpuViT.Tests.Host;

/// <summary>
/// `gpuvit run` on a directory laid out as each hub's download: timm's (config.json with its
/// architecture and pretrained_cfg, model.safetensors in timm's names, no metadata) and Hugging
/// Face's (config.json, preprocessor_config.json, model.safetensors in its names). The logits must
/// be the model's on the image transformed as the files say, built here by hand.
/// <para>The model is vit_test_tiny (random weights): a published architecture's tensors would be
/// far too large for a test. Its config.json names the architecture "vit_test_tiny.random", a tag
/// on a registered preset, so the heads come through the same path as
/// "vit_small_patch16_224.augreg_in21k_ft_in1k" would; that a published name resolves, and that
/// a name whose preset does not fit the tensors gives nothing, is tested beside it.</para>
/// </summary>
public sealed class HubLayoutRunTests : IDisposable
{
    private static readonly VitConfig Tiny = VitPresets.VitTestTiny;
    private static readonly string Image = Path.Combine(AppContext.BaseDirectory, "fixtures", "preprocess", "wide.ppm");
    private readonly TempDirectory _temp = new("gpuvit-hub-");

    public void Dispose() => _temp.Dispose();

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_temp.Path, name)).FullName;

    private static VitWeights Weights => VitWeights.RandomInit(Tiny, seed: 21);

    /// <summary>The tiny model as the Hugging Face config.json says it: eps 1e-12, as Hugging Face's ViTs have it.</summary>
    private static readonly VitConfig HfTiny = Tiny with { LayerNormEps = 1e-12f };

    /// <summary>A timm hub download: config.json as timm's push_to_hf_hub writes it, weights without metadata.</summary>
    private string SaveTimm(string architecture = "vit_test_tiny.random", int classes = 10)
    {
        VitConfig config = Tiny with { Classes = classes };
        string dir = Dir("timm");
        WeightLayoutTests.WriteTensors(Path.Combine(dir, "model.safetensors"), VitWeights.RandomInit(config, seed: 21).Tensors);
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new
        {
            architecture,
            num_classes = classes,
            num_features = config.Width,
            global_pool = "token",
            pretrained_cfg = new
            {
                tag = "random",
                custom_load = false,
                input_size = new[] { 3, 32, 32 },
                fixed_input_size = true,
                interpolation = "bicubic",
                crop_pct = 0.9,
                crop_mode = "center",
                mean = new[] { 0.5, 0.5, 0.5 },
                std = new[] { 0.5, 0.5, 0.5 },
                num_classes = classes,
                pool_size = (int[]?)null,
                first_conv = "patch_embed.proj",
                classifier = "head",
            },
        }));
        return Path.Combine(dir, "model.safetensors");
    }

    /// <summary>A Hugging Face hub download: config.json (ViTForImageClassification), preprocessor_config.json, weights in its names.</summary>
    private string SaveHuggingFace(float[] mean)
    {
        string dir = Dir("hf");
        WeightLayoutTests.WriteTensors(Path.Combine(dir, "model.safetensors"), WeightLayoutTests.HuggingFaceNames(Tiny, Weights));
        File.WriteAllText(Path.Combine(dir, "config.json"), WeightLayoutTests.HuggingFaceConfigJson(Tiny, eps: 1e-12f));
        File.WriteAllText(Path.Combine(dir, PreprocessResolution.HuggingFaceFileName), JsonSerializer.Serialize(new
        {
            do_normalize = true,
            do_rescale = true,
            do_resize = true,
            image_mean = mean,
            image_processor_type = "ViTImageProcessor",
            image_std = new[] { 0.5, 0.5, 0.5 },
            resample = 2,
            rescale_factor = 0.00392156862745098,
            size = new { height = 32, width = 32 },
        }));
        return Path.Combine(dir, "model.safetensors");
    }

    /// <summary>The model's logits for the image through <paramref name="transform"/>, on cpu.</summary>
    private static float[] Expected(EvalTransform transform, VitConfig config, VitWeights weights)
    {
        float[] input = transform.Apply(ImageDecoder.Load(Image));
        using Device device = Devices.Open("cpu").Device;
        using var model = VitModel.Load(device, config, weights);
        return model.Forward(input, 1);
    }

    private float[] RunSaved(string weights, params string[] extra)
    {
        string logits = Path.Combine(_temp.Path, "logits.npy");
        (int exit, _, string error) = Run(["run", "--weights", weights, "--input", Image, "--save-logits", logits, "--device", "cpu", .. extra]);
        Assert.True(exit == 0, error);
        return NpyFile.ReadFloat32(logits).Data;
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"logit {i}: {actual[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void A_timm_hub_download_runs_without_heads_preprocessed_by_its_pretrained_cfg()
    {
        string weights = SaveTimm();

        float[] logits = RunSaved(weights);

        // pretrained_cfg: resize the shorter side to floor(32 / 0.9) = 35, bicubic, centre crop, mean and std 0.5.
        AssertClose(Expected(new EvalTransform(32, 0.9, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], Interpolation.Bicubic), Tiny, Weights), logits);
        // The defaults (crop 0.875, bilinear, ImageNet's mean) would give other logits: the config was read.
        Assert.NotEqual(Expected(new EvalTransform(32), Tiny, Weights), logits);
    }

    [Fact]
    public void A_hugging_face_hub_download_runs_preprocessed_by_its_preprocessor_config()
    {
        string weights = SaveHuggingFace([0.5f, 0.5f, 0.5f]);

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu", "--top", "1", "--verbose");
        float[] logits = RunSaved(weights);

        Assert.True(exit == 0, error);
        // ViTImageProcessor: a plain bilinear resize to 32x32, no crop, (x / 255 − 0.5) / 0.5.
        var transform = new EvalTransform(32, 1.0, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], Interpolation.Bilinear, CropMode.Squash);
        float[] expected = Expected(transform, HfTiny, Weights);
        AssertClose(expected, logits);
        int top = Array.IndexOf(expected, expected.Max());
        Assert.Contains($"  {top} class {top}", output); // id2label names the classes
        Assert.Contains("gpuvit: preprocessing from preprocessor_config.json beside model.safetensors: image_size 32, resize 32 (height and width), no crop, crop_mode squash, interpolation bilinear, rescale 0.00392156862745098, mean 0.5,0.5,0.5, std 0.5,0.5,0.5", error);
    }

    [Fact]
    public void Changing_image_mean_in_preprocessor_config_changes_the_logits_as_it_should()
    {
        float[] mean = [0.2f, 0.6f, 0.4f];
        string weights = SaveHuggingFace(mean);

        float[] logits = RunSaved(weights);

        var transform = new EvalTransform(32, 1.0, mean, [0.5f, 0.5f, 0.5f], Interpolation.Bilinear, CropMode.Squash);
        AssertClose(Expected(transform, HfTiny, Weights), logits);
        var unchanged = new EvalTransform(32, 1.0, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], Interpolation.Bilinear, CropMode.Squash);
        Assert.NotEqual(Expected(unchanged, HfTiny, Weights), logits);
    }

    [Fact]
    public void Flags_override_the_files_preprocessing()
    {
        string weights = SaveTimm();

        float[] logits = RunSaved(weights, "--crop-pct", "1", "--interpolation", "bilinear", "--mean", "0.1,0.2,0.3", "--std", "0.3", "0.2", "0.1", "--crop-mode", "squash");

        AssertClose(Expected(new EvalTransform(32, 1.0, [0.1f, 0.2f, 0.3f], [0.3f, 0.2f, 0.1f], Interpolation.Bilinear, CropMode.Squash), Tiny, Weights), logits);
    }

    [Theory]
    [InlineData("--img-size", "48", "image size 48 (from the command line) does not fit the model: its position embeddings are a 4x4 grid of 8-pixel patches, 32x32 images")]
    [InlineData("--crop-pct", "1.5", "--crop-pct must be in (0, 1], not 1.5")]
    [InlineData("--interpolation", "lanczos", "--interpolation must be bilinear, bicubic or nearest, not 'lanczos'")]
    [InlineData("--crop-mode", "random", "--crop-mode must be center, squash or border, not 'random'")]
    [InlineData("--mean", "0.5,0.5", "--mean takes 3 values (R G B or R,G,B), not 2 ('0.5,0.5')")]
    [InlineData("--std", "0.5,0,0.5", "--std values must be above zero (they divide), not '0.5,0,0.5'")]
    [InlineData("--mean", "a,b,c", "--mean: 'a' in 'a,b,c' is not a finite number")]
    public void A_bad_preprocessing_flag_is_one_line_and_exit_2(string flag, string value, string expected)
    {
        string weights = SaveTimm();

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu", flag, value);

        AssertUsageError(exit, output, error, expected);
    }

    [Theory]
    [InlineData("crop_mode", "\"random\"", "config.json beside model.safetensors: pretrained_cfg.crop_mode 'random' is not center, squash or border")]
    [InlineData("interpolation", "\"lanczos\"", "config.json beside model.safetensors: pretrained_cfg.interpolation 'lanczos' is not bilinear, bicubic or nearest")]
    [InlineData("input_size", "[3, 48, 48]", "image size 48 (from config.json beside model.safetensors) does not fit the model")]
    public void A_pretrained_cfg_value_gpuvit_cannot_honour_is_refused_not_replaced(string key, string json, string expected)
    {
        string weights = SaveTimm();
        string configPath = Path.Combine(Path.GetDirectoryName(weights)!, "config.json");
        var root = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(File.ReadAllText(configPath))!;
        var pretrained = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(root["pretrained_cfg"].GetRawText())!;
        pretrained[key] = JsonDocument.Parse(json).RootElement;
        root["pretrained_cfg"] = JsonSerializer.SerializeToElement(pretrained);
        File.WriteAllText(configPath, JsonSerializer.Serialize(root));

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu");

        AssertUsageError(exit, output, error, expected);
    }

    [Theory]
    [InlineData("{\"size\": {\"height\": 32, \"width\": 32}, \"resample\": 1}", "resample 1 is not 0 (nearest), 2 (bilinear) or 3 (bicubic)")]
    [InlineData("{\"size\": {\"height\": 32, \"width\": 40}}", "size 32x40 is not square")]
    [InlineData("{\"size\": {\"shortest_edge\": 32}}", "size shortest_edge without do_center_crop gives images of any shape")]
    [InlineData("{\"size\": {\"height\": 32, \"width\": 32}, \"do_resize\": false}", "do_resize is false")]
    public void A_preprocessor_config_value_gpuvit_cannot_honour_is_refused(string json, string expected)
    {
        string weights = SaveHuggingFace([0.5f, 0.5f, 0.5f]);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(weights)!, PreprocessResolution.HuggingFaceFileName), json);

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu");

        AssertUsageError(exit, output, error, "preprocessor_config.json beside model.safetensors: " + expected);
    }

    [Fact]
    public void Compare_reads_the_preprocessor_config_as_run_does()
    {
        // compare decodes the user's images with the model's published preprocessing too: a value
        // it cannot honour is refused there in the same words, before anything is measured.
        string weights = SaveHuggingFace([0.5f, 0.5f, 0.5f]);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(weights)!, PreprocessResolution.HuggingFaceFileName),
            "{\"size\": {\"height\": 32, \"width\": 32}, \"resample\": 1}");

        (int exit, string output, string error) = Run("compare", "--weights", weights, "--images", Image, "--device", "cpu", "--no-report");

        AssertUsageError(exit, output, error, "preprocessor_config.json beside model.safetensors: resample 1 is not 0 (nearest), 2 (bilinear) or 3 (bicubic)");
    }

    [Fact]
    public void A_preprocessor_config_that_is_not_json_is_ignored_with_a_warning()
    {
        string weights = SaveHuggingFace([0.5f, 0.5f, 0.5f]);
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(weights)!, PreprocessResolution.HuggingFaceFileName), "{ not json");

        (int exit, _, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu");

        Assert.Equal(0, exit);
        Assert.StartsWith("gpuvit: warning: preprocessor_config.json beside model.safetensors is ignored: not JSON", error);
    }

    [Fact]
    public void A_published_architecture_name_resolves_its_preset_by_dropping_the_tag()
    {
        Assert.Equal(("vit_small_patch16_224", VitPresets.VitSmallPatch16_224), VitPresets.FromArchitecture("vit_small_patch16_224.augreg_in21k_ft_in1k"));
        Assert.Equal(16, VitPresets.FromArchitecture("vit_large_patch16_384.augreg_in21k_ft_in1k")!.Value.Config.Heads);
        Assert.Equal(32, VitPresets.FromArchitecture("vit_base_patch32_224")!.Value.Config.PatchSize);
        Assert.Null(VitPresets.FromArchitecture("eva02_tiny_patch14_224.mim_in22k"));
    }

    [Fact]
    public void An_architecture_whose_preset_does_not_fit_the_tensors_gives_no_heads()
    {
        string weights = SaveTimm("vit_small_patch16_224.augreg_in21k_ft_in1k");

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu");

        Assert.Equal(Cli.UsageError, exit);
        Assert.Empty(output);
        Assert.Contains("pass --heads N", error);
        Assert.Contains("config.json beside model.safetensors is ignored: architecture vit_small_patch16_224.augreg_in21k_ft_in1k has image_size 224, model.safetensors has 32", error);
    }

    [Fact]
    public void An_unknown_architecture_is_named_when_heads_are_asked_for()
    {
        string weights = SaveTimm("eva02_tiny_patch14_224.mim_in22k");

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu");

        AssertUsageError(exit, output, error, "(architecture eva02_tiny_patch14_224.mim_in22k is not a preset GpuViT knows)");
    }

    [Fact]
    public void A_1000_class_model_without_names_gets_imagenet_s_and_labels_still_win()
    {
        string weights = SaveTimm(classes: 1000);

        (int exit, string output, string error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu", "--top", "1", "--verbose");

        Assert.True(exit == 0, error);
        // "  PROBABILITY  INDEX NAME" under the input's name.
        string[] top = output.Split('\n')[1].Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        int index = int.Parse(top[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"  {top[0]}  {index} {ImageNetClasses.Names[index]}", output.Split('\n')[1]);
        Assert.Contains("class names: ImageNet-1k (1000, built in)", error);
        Assert.Contains("gpuvit: from config.json beside model.safetensors: heads 2, architecture vit_test_tiny.random (preset vit_test_tiny), mean 0.5,0.5,0.5, std 0.5,0.5,0.5", error);

        string labels = Path.Combine(_temp.Path, "labels.txt");
        File.WriteAllLines(labels, Enumerable.Range(0, 1000).Select(i => $"mine {i}"));
        (exit, output, error) = Run("run", "--weights", weights, "--input", Image, "--device", "cpu", "--top", "1", "--labels", labels);
        Assert.True(exit == 0, error);
        Assert.Contains($"  {index} mine {index}", output);
    }

    [Fact]
    public void Imagenet_names_are_torchvision_s_thousand()
    {
        Assert.Equal(1000, ImageNetClasses.Names.Count);
        Assert.Equal(1000, ImageNetClasses.Names.Distinct().Count());
        Assert.Equal(["tench", "goldfish"], ImageNetClasses.Names.Take(2));
        Assert.Equal("toilet tissue", ImageNetClasses.Names[999]);
    }
}
