using System.Text.Json;
using GpuViT.Models.Vit;
using GpuViT.Models.Weights;

namespace GpuViT.Tests.Models;

/// <summary>
/// Weights files in the three layouts: a random vit_test_tiny renamed to torchvision's and
/// Hugging Face's names (the reverse of the loader's mapping, written out here independently)
/// gives exactly the timm-layout model's logits; the config comes from metadata, config.json or
/// hints; the number of heads is asked for, never guessed.
/// </summary>
public sealed class WeightLayoutTests(TestDevices devices) : IClassFixture<TestDevices>, IDisposable
{
    private readonly TempDirectory _temp = new("gpuvit-layouts-");

    public void Dispose() => _temp.Dispose();

    private string PathOf(params string[] parts) => Path.Combine([_temp.Path, .. parts]);

    internal static Dictionary<string, VitTensor> TorchVisionNames(VitConfig config, VitWeights weights)
    {
        var map = new Dictionary<string, VitTensor>
        {
            ["conv_proj.weight"] = weights["patch_embed.proj.weight"],
            ["conv_proj.bias"] = weights["patch_embed.proj.bias"],
            ["class_token"] = weights["cls_token"],
            ["encoder.pos_embedding"] = weights["pos_embed"],
            ["encoder.ln.weight"] = weights["norm.weight"],
            ["encoder.ln.bias"] = weights["norm.bias"],
            ["heads.head.weight"] = weights["head.weight"],
            ["heads.head.bias"] = weights["head.bias"],
        };
        for (int i = 0; i < config.Depth; i++)
        {
            string t = $"blocks.{i}.", v = $"encoder.layers.encoder_layer_{i}.";
            foreach (string wb in new[] { "weight", "bias" })
            {
                map[v + "ln_1." + wb] = weights[t + "norm1." + wb];
                map[v + "self_attention.in_proj_" + wb] = weights[t + "attn.qkv." + wb];
                map[v + "self_attention.out_proj." + wb] = weights[t + "attn.proj." + wb];
                map[v + "ln_2." + wb] = weights[t + "norm2." + wb];
                // Older torchvision names the MLP's linears linear_1/linear_2: use both.
                map[v + (i % 2 == 0 ? "mlp.0." : "mlp.linear_1.") + wb] = weights[t + "mlp.fc1." + wb];
                map[v + (i % 2 == 0 ? "mlp.3." : "mlp.linear_2.") + wb] = weights[t + "mlp.fc2." + wb];
            }
        }

        return map;
    }

    internal static Dictionary<string, VitTensor> HuggingFaceNames(VitConfig config, VitWeights weights)
    {
        var map = new Dictionary<string, VitTensor>
        {
            ["vit.embeddings.patch_embeddings.projection.weight"] = weights["patch_embed.proj.weight"],
            ["vit.embeddings.patch_embeddings.projection.bias"] = weights["patch_embed.proj.bias"],
            ["vit.embeddings.cls_token"] = weights["cls_token"],
            ["vit.embeddings.position_embeddings"] = weights["pos_embed"],
            ["vit.layernorm.weight"] = weights["norm.weight"],
            ["vit.layernorm.bias"] = weights["norm.bias"],
            ["classifier.weight"] = weights["head.weight"],
            ["classifier.bias"] = weights["head.bias"],
        };
        int d = config.Width;
        for (int i = 0; i < config.Depth; i++)
        {
            string t = $"blocks.{i}.", h = $"vit.encoder.layer.{i}.";
            foreach (string wb in new[] { "weight", "bias" })
            {
                map[h + "layernorm_before." + wb] = weights[t + "norm1." + wb];
                map[h + "attention.output.dense." + wb] = weights[t + "attn.proj." + wb];
                map[h + "layernorm_after." + wb] = weights[t + "norm2." + wb];
                map[h + "intermediate.dense." + wb] = weights[t + "mlp.fc1." + wb];
                map[h + "output.dense." + wb] = weights[t + "mlp.fc2." + wb];

                // qkv is [q; k; v] along the output dimension: each part is d rows.
                VitTensor qkv = weights[t + "attn.qkv." + wb];
                int rowValues = qkv.Data.Length / (3 * d);
                string[] parts = ["query", "key", "value"];
                for (int p = 0; p < 3; p++)
                {
                    int[] shape = [d, .. qkv.Shape[1..]];
                    map[h + $"attention.attention.{parts[p]}." + wb] = new VitTensor(shape, qkv.Data[(p * d * rowValues)..((p + 1) * d * rowValues)]);
                }
            }
        }

        return map;
    }

    internal static void WriteTensors(string path, IEnumerable<KeyValuePair<string, VitTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var writer = new SafetensorsWriter();
        foreach ((string name, VitTensor tensor) in tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            writer.Add(name, tensor.Shape, tensor.Data);
        }

        foreach ((string key, string value) in metadata ?? new Dictionary<string, string>())
        {
            writer.Metadata[key] = value;
        }

        writer.Save(path);
    }

    internal static string HuggingFaceConfigJson(VitConfig c, bool withHeads = true, float eps = 1e-6f) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["architectures"] = new[] { "ViTForImageClassification" },
        ["hidden_size"] = c.Width,
        ["num_hidden_layers"] = c.Depth,
        ["intermediate_size"] = c.MlpWidth,
        ["image_size"] = c.ImageSize,
        ["patch_size"] = c.PatchSize,
        ["num_channels"] = c.Channels,
        ["layer_norm_eps"] = eps,
        ["hidden_act"] = "gelu",
        ["id2label"] = Enumerable.Range(0, c.Classes).ToDictionary(i => i.ToString(), i => $"class {i}"),
    }.Concat(withHeads ? [new("num_attention_heads", c.Heads)] : Array.Empty<KeyValuePair<string, object>>()).ToDictionary());

    private static float[] Images(VitConfig c, int batch, int seed = 3) =>
        TestData.Random(batch * c.Channels * c.ImageSize * c.ImageSize, seed);

    private float[] Logits(VitConfig config, VitWeights weights, float[] images, int batch)
    {
        using VitModel model = VitModel.Load(devices.Cpu, config, weights);
        return model.Forward(images, batch);
    }

    [Fact]
    public void Saved_timm_file_loads_with_its_config_from_metadata()
    {
        VitConfig config = VitPresets.VitTestTiny;
        VitWeights weights = VitWeights.RandomInit(config, seed: 7);
        string path = PathOf("model.safetensors");
        VitWeightFiles.Save(path, config, weights);

        LoadedVit loaded = VitWeightFiles.Load(path);

        Assert.Equal(WeightLayout.Timm, loaded.Layout);
        Assert.Equal(config, loaded.Config);
        using (SafetensorsFile file = SafetensorsFile.Open(path))
        {
            Assert.Equal("2", file.Metadata[VitWeightFiles.MetadataKeys.Heads]);
            Assert.Equal("32", file.Metadata[VitWeightFiles.MetadataKeys.ImageSize]);
        }

        float[] images = Images(config, 2);
        Assert.Equal(Logits(config, weights, images, 2), Logits(loaded.Config, loaded.Weights, images, 2));
    }

    [Theory]
    [InlineData("vit_test_tiny_mean")]
    [InlineData("vit_test_small")]
    public void Metadata_carries_mean_pooling_and_odd_sizes(string preset)
    {
        VitConfig config = VitPresets.Get(preset);
        string path = PathOf("model.safetensors");
        VitWeightFiles.Save(path, config, VitWeights.RandomInit(config, seed: 1));

        Assert.Equal(config, VitWeightFiles.Load(path).Config);
    }

    [Fact]
    public void Shared_layers_keep_their_depth_through_metadata()
    {
        VitConfig config = VitPresets.VitTestTiny with { Depth = 5, ShareLayers = true };
        string path = PathOf("shared.safetensors");
        VitWeightFiles.Save(path, config, VitWeights.RandomInit(config, seed: 1));

        LoadedVit loaded = VitWeightFiles.Load(path);

        Assert.Equal(config, loaded.Config);
        Assert.Equal(config.ParameterCount, loaded.Weights.ParameterCount);
    }

    [Fact]
    public void All_three_layouts_give_the_timm_layouts_logits()
    {
        VitConfig config = VitPresets.VitTestTiny;
        VitWeights weights = VitWeights.RandomInit(config, seed: 11);
        float[] images = Images(config, 3);
        float[] expected = Logits(config, weights, images, 3);

        // timm without metadata: heads as a hint.
        string timmPath = PathOf("timm.safetensors");
        WriteTensors(timmPath, weights.Tensors);
        LoadedVit timm = VitWeightFiles.Load(timmPath, hints: new VitConfigHints(Heads: config.Heads));

        string tvPath = PathOf("tv.safetensors");
        WriteTensors(tvPath, TorchVisionNames(config, weights));
        LoadedVit tv = VitWeightFiles.Load(tvPath, hints: new VitConfigHints(Heads: config.Heads));

        Directory.CreateDirectory(PathOf("hf"));
        string hfPath = PathOf("hf", "model.safetensors");
        WriteTensors(hfPath, HuggingFaceNames(config, weights));
        File.WriteAllText(PathOf("hf", "config.json"), HuggingFaceConfigJson(config));
        LoadedVit hf = VitWeightFiles.Load(hfPath);

        Assert.Equal([WeightLayout.Timm, WeightLayout.TorchVision, WeightLayout.HuggingFace], new[] { timm.Layout, tv.Layout, hf.Layout });
        foreach (LoadedVit loaded in new[] { timm, tv, hf })
        {
            Assert.Equal(config, loaded.Config);
            Assert.Equal(expected, Logits(loaded.Config, loaded.Weights, images, 3));
        }

        Assert.Equal("class 9", hf.ClassNames![9]);
    }

    [Fact]
    public void Hugging_face_eps_defaults_to_1e_12_when_config_json_omits_it()
    {
        VitConfig config = VitPresets.VitTestTiny;
        VitWeights weights = VitWeights.RandomInit(config, seed: 2);
        string path = PathOf("model.safetensors");
        WriteTensors(path, HuggingFaceNames(config, weights));
        using (JsonDocument doc = JsonDocument.Parse(HuggingFaceConfigJson(config)))
        {
            var fields = doc.RootElement.EnumerateObject().Where(p => p.Name != "layer_norm_eps").ToDictionary(p => p.Name, p => p.Value.Clone());
            File.WriteAllText(PathOf("config.json"), JsonSerializer.Serialize(fields));
        }

        Assert.Equal(1e-12f, VitWeightFiles.Load(path).Config.LayerNormEps);
    }

    [Theory]
    [InlineData("timm")]
    [InlineData("torchvision")]
    [InlineData("hf")]
    public void Missing_heads_is_asked_for_in_one_line(string layout)
    {
        VitConfig config = VitPresets.VitTestTiny;
        VitWeights weights = VitWeights.RandomInit(config, seed: 2);
        string path = PathOf("model.safetensors");
        WriteTensors(path, layout switch
        {
            "timm" => weights.Tensors,
            "torchvision" => TorchVisionNames(config, weights),
            _ => HuggingFaceNames(config, weights),
        });
        if (layout == "hf")
        {
            File.WriteAllText(PathOf("config.json"), HuggingFaceConfigJson(config, withHeads: false));
        }

        var e = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path));

        Assert.Equal(
            "model.safetensors: the number of heads is not in the file's metadata or a config.json beside it; pass --heads N (N divides the width 32)",
            e.Message);
    }

    [Fact]
    public void Heads_that_do_not_divide_the_width_name_the_file()
    {
        VitConfig config = VitPresets.VitTestTiny;
        string path = PathOf("model.safetensors");
        WriteTensors(path, VitWeights.RandomInit(config, seed: 2).Tensors);

        var e = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path, hints: new VitConfigHints(Heads: 3)));

        Assert.Equal("model.safetensors: 3 heads do not divide width 32", e.Message);
    }

    [Fact]
    public void Unknown_layout_and_missing_tensors_name_the_file()
    {
        VitConfig config = VitPresets.VitTestTiny;
        VitWeights weights = VitWeights.RandomInit(config, seed: 2);
        string path = PathOf("model.safetensors");
        WriteTensors(path, [new("foo.weight", new VitTensor([2], [1, 2]))]);
        Assert.StartsWith("model.safetensors: not a ViT in a known layout", Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path)).Message);

        var tv = TorchVisionNames(config, weights);
        tv.Remove("encoder.layers.encoder_layer_1.ln_2.bias");
        WriteTensors(path, tv);
        var e = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path, hints: new VitConfigHints(Heads: 2)));
        Assert.StartsWith("model.safetensors: blocks.1.norm2.bias: missing", e.Message);

        var hf = HuggingFaceNames(config, weights);
        hf.Remove("vit.encoder.layer.0.attention.attention.key.weight");
        WriteTensors(path, hf);
        e = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path, hints: new VitConfigHints(Heads: 2)));
        Assert.Contains("blocks.0.attn.qkv.weight: the key part is missing", e.Message);
    }

    [Fact]
    public void Explicit_config_json_overrides_and_misfits_are_reported()
    {
        VitConfig config = VitPresets.VitTestTiny;
        string path = PathOf("model.safetensors");
        WriteTensors(path, VitWeights.RandomInit(config, seed: 2).Tensors);
        string json = PathOf("other.json");
        File.WriteAllText(json, HuggingFaceConfigJson(config with { MlpWidth = 48 }));

        var e = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path, json));

        Assert.Equal("other.json: intermediate_size 48 disagrees with model.safetensors (mlp_width 64)", e.Message);
    }

    [Fact]
    public void A_config_json_beside_a_file_that_disagrees_with_its_metadata_is_ignored_with_a_warning()
    {
        VitConfig config = VitPresets.VitTestTiny;
        string path = PathOf("model.safetensors");
        VitWeightFiles.Save(path, config, VitWeights.RandomInit(config, seed: 2));
        File.WriteAllText(PathOf("config.json"), HuggingFaceConfigJson(config with { Width = 768, Classes = 1000 }));

        LoadedVit loaded = VitWeightFiles.Load(path);

        Assert.Equal(config, loaded.Config);
        Assert.Null(loaded.ClassNames);
        Assert.Equal(
            "config.json beside model.safetensors is ignored: hidden_size 768 disagrees with model.safetensors (width 32)",
            Assert.Single(loaded.Warnings));
        Assert.Equal(["model.safetensors metadata"], loaded.Sources.Select(s => s.Name));
    }

    [Fact]
    public void Hints_then_metadata_then_a_config_json_beside_the_file_and_the_sources_say_which_gave_what()
    {
        VitConfig config = VitPresets.VitTestTiny;
        string path = PathOf("model.safetensors");
        VitWeightFiles.Save(path, config, VitWeights.RandomInit(config, seed: 2));
        File.WriteAllText(PathOf("config.json"), JsonSerializer.Serialize(new
        {
            num_attention_heads = 2,
            label_names = Enumerable.Range(0, 10).Select(i => $"n{i}"),
            pretrained_cfg = new { mean = new[] { 0.5, 0.5, 0.5 }, std = new[] { 0.25, 0.25, 0.25 } },
        }));

        LoadedVit loaded = VitWeightFiles.Load(path, hints: new VitConfigHints(Heads: 4));

        Assert.Equal(config with { Heads = 4 }, loaded.Config);
        Assert.Equal("n9", loaded.ClassNames![9]);
        Assert.Equal([0.5f, 0.5f, 0.5f], loaded.Mean!);
        Assert.Empty(loaded.Warnings);
        Assert.Equal(["the command line", "model.safetensors metadata", "config.json beside model.safetensors"], loaded.Sources.Select(s => s.Name));
        Assert.Equal(["heads 4"], loaded.Sources[0].Values);
        Assert.Contains("image_size 32", loaded.Sources[1].Values);
        Assert.DoesNotContain("heads 2", loaded.Sources[1].Values);
        Assert.Equal(["mean 0.5,0.5,0.5", "std 0.25,0.25,0.25", "class names (10)"], loaded.Sources[2].Values);
    }

    [Fact]
    public void A_mean_of_the_wrong_length_names_the_file_and_the_key()
    {
        VitConfig config = VitPresets.VitTestTiny;
        string path = PathOf("model.safetensors");
        Dictionary<string, string> metadata = VitWeightFiles.Metadata(config);
        metadata[VitWeightFiles.MetadataKeys.Mean] = "0.5";
        WriteTensors(path, VitWeights.RandomInit(config, seed: 2).Tensors, metadata);

        var e = Assert.Throws<WeightsFormatException>(() => VitWeightFiles.Load(path));

        Assert.Equal("model.safetensors: metadata gpuvit.mean has 1 value, the model has 3 channels", e.Message);
    }
}
