using GpuViT.Kernels.Ops;
using GpuViT.Models.Vit;
using GpuViT.Tests.Ops;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Models;

/// <summary>
/// The ViT definition (validation, presets, counts against timm's), its weights (timm names,
/// random init, the fit check), and the forward pass: cpu against a plain double-precision loop,
/// OpenCL and the emulator against cpu, and ShareLayers against an unshared model that holds
/// the same block in every layer.
/// </summary>
public sealed class VitTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [InlineData("vit_tiny_patch16_224", 5_717_416)]
    [InlineData("vit_small_patch16_224", 22_050_664)]
    [InlineData("vit_base_patch16_224", 86_567_656)]
    public void Presets_have_timms_parameter_counts(string name, long parameters)
    {
        VitConfig config = VitPresets.Get(name);

        Assert.Equal(parameters, config.ParameterCount);
        Assert.Equal(parameters * 4, config.WeightBytes);
        Assert.Equal(197, config.Tokens);
        Assert.Equal(64, config.HeadSize);
    }

    [Fact]
    public void Flops_count_the_linears_and_attention()
    {
        VitConfig c = VitPresets.VitSmallPatch16_224;
        long t = 197, d = 384, m = 1536;
        long perLayer = 2 * t * d * (3 * d + d + 2 * m) + 4 * t * t * d;
        Assert.Equal(2L * 196 * d * 768 + 12 * perLayer + 2 * d * 1000, c.FlopsPerImage);

        // timm quotes 4.6 GMACs for ViT-S/16.
        Assert.InRange(c.FlopsPerImage / 2e9, 4.5, 4.7);

        // Sharing layers saves weights, not compute.
        Assert.Equal(c.FlopsPerImage, (c with { ShareLayers = true }).FlopsPerImage);
    }

    [Fact]
    public void Shared_layers_count_the_block_once()
    {
        VitConfig unshared = VitPresets.VitSmallPatch16_224;
        VitConfig shared = unshared with { ShareLayers = true };

        Assert.Equal(unshared.ParameterCount - 11 * unshared.BlockParameterCount, shared.ParameterCount);
        Assert.Equal(1_774_464, unshared.BlockParameterCount);
    }

    [Theory]
    [InlineData(224, 16, 3, 384, 12, 5, 1536, 1000, "5 heads do not divide width 384")]
    [InlineData(224, 15, 3, 384, 12, 6, 1536, 1000, "patch size 15 does not divide image size 224")]
    [InlineData(0, 16, 3, 384, 12, 6, 1536, 1000, "ImageSize must be positive, not 0")]
    [InlineData(224, 16, 3, 384, 0, 6, 1536, 1000, "Depth must be positive, not 0")]
    [InlineData(224, 16, 3, 384, 12, 0, 1536, 1000, "Heads must be positive, not 0")]
    [InlineData(224, 16, 3, 384, 12, 6, -1, 1000, "MlpWidth must be positive, not -1")]
    [InlineData(224, 16, 3, 384, 12, 6, 1536, 0, "Classes must be positive, not 0")]
    public void Validate_names_the_field(int image, int patch, int channels, int width, int depth, int heads, int mlp, int classes, string message)
    {
        var e = Assert.Throws<VitConfigException>(() => new VitConfig(image, patch, channels, width, depth, heads, mlp, classes).Validate());
        Assert.Equal(message, e.Message);
        Assert.IsAssignableFrom<ArgumentException>(e);
    }

    [Fact]
    public void Validate_rejects_class_token_pooling_without_a_class_token_and_a_bad_eps()
    {
        VitConfig c = VitPresets.VitTestTiny;
        Assert.Contains("needs a class token", Assert.Throws<VitConfigException>(() => (c with { ClassToken = false }).Validate()).Message);
        Assert.Contains("LayerNormEps", Assert.Throws<VitConfigException>(() => (c with { LayerNormEps = 0 }).Validate()).Message);
        (c with { ClassToken = false, Pooling = PoolMode.Mean }).Validate();
    }

    [Fact]
    public void Preset_lookup_lists_the_known_names()
    {
        Assert.Same(VitPresets.VitSmallPatch16_224, VitPresets.Get("vit_small_patch16_224"));
        Assert.Same(VitPresets.VitTestTiny, VitPresets.Get("VIT-TEST-TINY"));
        var e = Assert.Throws<VitConfigException>(() => VitPresets.Get("vit_huge"));
        Assert.Contains("unknown model 'vit_huge'", e.Message);
        Assert.Contains("vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224", e.Message);
        foreach (string name in VitPresets.Names)
        {
            VitPresets.Get(name).Validate();
        }
    }

    [Theory]
    [InlineData("vit_test_tiny")]
    [InlineData("vit_test_tiny_mean")]
    [InlineData("vit_test_small")]
    public void Random_init_is_deterministic_and_fits(string name)
    {
        VitConfig config = VitPresets.Get(name);
        VitWeights a = VitWeights.RandomInit(config, 7), b = VitWeights.RandomInit(config, 7), c = VitWeights.RandomInit(config, 8);

        Assert.Empty(a.Problems(config));
        Assert.Equal(config.ParameterCount, a.ParameterCount);
        Assert.Equal(a.Tensors["blocks.1.mlp.fc1.weight"].Data, b.Tensors["blocks.1.mlp.fc1.weight"].Data);
        Assert.NotEqual(a.Tensors["blocks.1.mlp.fc1.weight"].Data, c.Tensors["blocks.1.mlp.fc1.weight"].Data);
        Assert.All(a.Tensors["blocks.0.norm1.weight"].Data, v => Assert.Equal(1f, v));
        Assert.All(a.Tensors["blocks.0.attn.qkv.bias"].Data, v => Assert.Equal(0f, v));
        Assert.Equal(config.Pooling == PoolMode.Mean, a.Tensors.ContainsKey("fc_norm.weight"));
    }

    [Fact]
    public void Random_init_has_timms_scale()
    {
        VitConfig config = VitPresets.VitTinyPatch16_224 with { Depth = 1 };
        float[] w = VitWeights.RandomInit(config, 1).Tensors["blocks.0.mlp.fc1.weight"].Data;
        double mean = w.Average(v => (double)v), std = Math.Sqrt(w.Average(v => (double)v * v) - mean * mean);

        Assert.InRange(std, 0.017, 0.018); // std 0.02 truncated at ±2σ is 0.0176
        Assert.InRange(mean, -5e-4, 5e-4);
        Assert.All(w, v => Assert.InRange(v, -0.04f, 0.04f));
    }

    [Fact]
    public void Shared_weights_hold_only_block_zero()
    {
        VitConfig config = VitPresets.VitTestSmall with { ShareLayers = true };
        VitWeights weights = VitWeights.RandomInit(config, 3);

        Assert.Contains("blocks.0.attn.qkv.weight", weights.Tensors.Keys);
        Assert.DoesNotContain(weights.Tensors.Keys, k => k.StartsWith("blocks.1.", StringComparison.Ordinal));
        Assert.Equal(config.ParameterCount, weights.ParameterCount);

        // Unshared weights against a shared config: the other blocks are extra.
        var e = Assert.Throws<VitWeightsException>(() => VitWeights.RandomInit(config with { ShareLayers = false }, 3).Validate(config));
        Assert.StartsWith("blocks.1.", e.Message);
        Assert.Contains("only blocks.0.* exist", e.Message);
    }

    [Fact]
    public void The_fit_check_names_the_tensor()
    {
        VitConfig config = VitPresets.VitTestTiny;
        Dictionary<string, VitTensor> tensors = VitWeights.RandomInit(config, 1).Tensors.ToDictionary();

        var missing = new Dictionary<string, VitTensor>(tensors);
        missing.Remove("blocks.1.mlp.fc2.bias");
        Assert.Equal(
            "blocks.1.mlp.fc2.bias: missing (expected shape [32])",
            Assert.Throws<VitWeightsException>(() => new VitWeights(missing).Validate(config)).Message);

        var extra = new Dictionary<string, VitTensor>(tensors) { ["head_dist.weight"] = new([1], [0f]) };
        Assert.Equal("head_dist.weight: unexpected tensor", Assert.Throws<VitWeightsException>(() => new VitWeights(extra).Validate(config)).Message);

        var wrong = new Dictionary<string, VitTensor>(tensors) { ["blocks.0.attn.qkv.weight"] = new([32, 96], new float[32 * 96]) };
        Assert.Equal(
            "blocks.0.attn.qkv.weight: shape [32, 96], the config needs [96, 32]",
            Assert.Throws<VitWeightsException>(() => new VitWeights(wrong).Validate(config)).Message);

        wrong.Remove("head.bias");
        Assert.Contains("(and 1 more problems)", Assert.Throws<VitWeightsException>(() => new VitWeights(wrong).Validate(config)).Message);

        Assert.Contains(
            "pos_embed: shape [1, 17, 32] holds 544 values, data has 3",
            Assert.Throws<VitWeightsException>(() => new VitWeights([new("pos_embed", new VitTensor([1, 17, 32], new float[3]))])).Message);

        // A model refuses weights that do not fit before it uploads anything.
        Assert.Throws<VitWeightsException>(() => VitModel.Load(devices.Cpu, config, new VitWeights(missing)));
    }

    [Theory]
    [InlineData("vit_test_tiny", 1)]
    [InlineData("vit_test_tiny", 3)]
    [InlineData("vit_test_tiny_mean", 2)]
    [InlineData("vit_test_small", 2)]
    public void Cpu_matches_the_double_loop(string name, int batch)
    {
        VitConfig config = VitPresets.Get(name);
        VitWeights weights = Perturbed(VitWeights.RandomInit(config, 11), 12);
        float[] images = Images(config, batch, 13);

        using VitModel model = VitModel.Load(devices.Cpu, config, weights);
        AssertWithinMaxRelative(Reference(config, weights, images, batch), model.Forward(images, batch), 1e-4, name);
    }

    [Fact]
    public void Cpu_preset_vit_tiny_at_224_matches_the_double_loop()
    {
        // The real preset with timm's init scales, batch 1: the shape the issue names.
        VitConfig config = VitPresets.VitTinyPatch16_224 with { Depth = 2 };
        VitWeights weights = Perturbed(VitWeights.RandomInit(config, 21), 22);
        float[] images = Images(config, 1, 23);

        using VitModel model = VitModel.Load(devices.Cpu, config, weights);
        AssertWithinMaxRelative(Reference(config, weights, images, 1), model.Forward(images, 1), 1e-4, "vit_tiny depth 2");
    }

    [Fact]
    public void Batched_images_give_the_logits_of_each_alone_and_buffers_serve_the_largest_batch_so_far()
    {
        VitConfig config = VitPresets.VitTestSmall;
        VitWeights weights = Perturbed(VitWeights.RandomInit(config, 31), 32);
        float[] images = Images(config, 3, 33);
        int perImage = config.Channels * config.ImageSize * config.ImageSize;

        using VitModel model = VitModel.Load(devices.Cpu, config, weights);
        // The cpu backend's packed GEMM weights may be padded to whole panels.
        Assert.InRange(model.WeightBytes, config.WeightBytes, config.WeightBytes * 2);
        // Per image: the token rows of x, the normed x, qkv, the attended x and the MLP's hidden
        // layer, and the pooled and normed class rows; the images and logits are the caller's.
        long PerBatch(int b) => 4L * (b * config.Tokens * (6L * config.Width + config.MlpWidth) + 2L * b * config.Width);
        Assert.Equal(PerBatch(1), VitModel.ActivationBytesFor(config, 1));
        float[] first = model.Forward(images.AsSpan(0, perImage), 1);
        Assert.Equal(PerBatch(1), model.ActivationBytes);
        float[] batched = model.Forward(images, 3);
        long batchBytes = model.ActivationBytes;
        Assert.Equal(PerBatch(3), batchBytes);
        for (int i = 0; i < 3; i++)
        {
            float[] alone = model.Forward(images.AsSpan(i * perImage, perImage), 1);
            AssertWithinMaxRelative(alone, batched.AsSpan(i * config.Classes, config.Classes).ToArray(), 1e-5, $"image {i}");
        }

        // A smaller batch (a stream's short last micro-batch) reuses the larger buffers, with the same results.
        Assert.Equal(batchBytes, model.ActivationBytes);
        Assert.Equal(first, model.Forward(images.AsSpan(0, perImage), 1));
        Assert.Equal(batched, model.Forward(images, 3));
        Assert.Equal(batchBytes, model.ActivationBytes);

        Assert.Throws<ArgumentException>(() => model.Forward(images.AsSpan(1), 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(images, 0));
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Forward(images, 3));
    }

    [Theory]
    [InlineData("vit_test_tiny")]
    [InlineData("vit_test_small")]
    public void Shared_layers_equal_an_unshared_model_holding_one_block_everywhere(string name)
    {
        VitConfig unshared = VitPresets.Get(name);
        VitConfig shared = unshared with { ShareLayers = true };
        VitWeights sharedWeights = Perturbed(VitWeights.RandomInit(shared, 41), 42);

        // The unshared model's layer i holds copies of blocks.0.
        var copies = new Dictionary<string, VitTensor>(sharedWeights.Tensors);
        foreach ((string key, VitTensor tensor) in sharedWeights.Tensors.Where(p => p.Key.StartsWith("blocks.0.", StringComparison.Ordinal)))
        {
            for (int i = 1; i < unshared.Depth; i++)
            {
                copies["blocks." + i + key["blocks.0".Length..]] = tensor with { Data = (float[])tensor.Data.Clone() };
            }
        }

        var unsharedWeights = new VitWeights(copies);
        float[] images = Images(unshared, 2, 43);
        using VitModel a = VitModel.Load(devices.Cpu, shared, sharedWeights);
        using VitModel b = VitModel.Load(devices.Cpu, unshared, unsharedWeights);

        Assert.Equal(b.Forward(images, 2), a.Forward(images, 2));
        long blocks = unshared.BlockParameterCount;
        Assert.Equal(blocks, shared.ParameterCount - (unshared.ParameterCount - unshared.Depth * blocks));
        Assert.Equal(unshared.Depth * blocks * 4, unshared.WeightBytes - shared.WeightBytes + blocks * 4);
        // WeightBytes counts what the cpu backend holds, GEMM weights padded to whole panels.
        Assert.InRange(a.WeightBytes, shared.WeightBytes, shared.WeightBytes * 2);
        Assert.InRange(b.WeightBytes, unshared.WeightBytes, unshared.WeightBytes * 2);
    }

    [Theory]
    [KernelDeviceData("vit_test_tiny", 2, GemmVersion.RegisterBlocked, true)]
    [KernelDeviceData("vit_test_tiny_mean", 2, GemmVersion.Tiled, false)]
    [KernelDeviceData("vit_test_small", 3, GemmVersion.RegisterBlocked, true)]
    [KernelDeviceData("vit_test_small", 1, GemmVersion.Naive, true)]
    [InlineData("emulator", "vit_test_tiny", 1, GemmVersion.RegisterBlocked, true)]
    [InlineData("emulator", "vit_test_tiny_mean", 1, GemmVersion.Tiled, false)]
    public void Kernel_devices_match_cpu(string backend, string name, int batch, GemmVersion gemm, bool fused)
    {
        VitConfig config = VitPresets.Get(name);
        VitWeights weights = Perturbed(VitWeights.RandomInit(config, 51), 52);
        float[] images = Images(config, batch, 53);

        using VitModel cpu = VitModel.Load(devices.Cpu, config, weights);
        using VitModel kernels = VitModel.Load(devices.Device(backend), config, weights, gemm, fused);
        Close.Nmse(cpu.Forward(images, batch), kernels.Forward(images, batch), 1e-10, $"{backend} {name} {gemm} fused={fused}");
    }

    /// <summary>
    /// A whole ViT in each narrowed precision with heads of 64 and 128, the sizes the tensor-core
    /// attention takes (the PyTorch fixtures' heads are 16, which run the fp32 attention): the
    /// tensor-core GEMMs on 16-bit packed weights (and the patch embedding on them), the tensor-core
    /// attention, against the cpu's fp32 logits within the fixtures' bounds, with the same top-1.
    /// </summary>
    [Theory]
    [KernelDeviceData(Precision.Tf32, 64)]
    [KernelDeviceData(Precision.Bf16, 64)]
    [KernelDeviceData(Precision.Fp16, 128)]
    [KernelDeviceData(Precision.Bf16, 128)]
    public void Narrowed_precisions_with_tensor_core_heads_stay_near_cpu_fp32(string backend, Precision precision, int headSize)
    {
        VitConfig config = VitPresets.VitTestTiny with { Width = 2 * headSize, Heads = 2, MlpWidth = 4 * headSize, Depth = 2 };
        VitWeights weights = Perturbed(VitWeights.RandomInit(config, 61), 62);
        const int batch = 3;
        float[] images = Images(config, batch, 63);

        using VitModel cpu = VitModel.Load(devices.Cpu, config, weights);
        using VitModel narrowed = VitModel.Load(devices.Device(backend), config, weights, precision: precision);
        float[] expected = cpu.Forward(images, batch), actual = narrowed.Forward(images, batch);

        double scale = expected.Max(Math.Abs), error = expected.Zip(actual, (e, a) => Math.Abs(e - (double)a)).Max();
        Assert.True(error <= PrecisionPyTorchTests.Bound(precision) * scale, $"{backend} {precision}: max |error| {error:E2}, logits' scale {scale:E2}");
        for (int image = 0; image < batch; image++)
        {
            Assert.Equal(ArgMax(expected.AsSpan(image * config.Classes, config.Classes)), ArgMax(actual.AsSpan(image * config.Classes, config.Classes)));
        }
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            best = values[i] > values[best] ? i : best;
        }

        return best;
    }

    /// <summary>Random init plus noise everywhere, so biases, LayerNorms and the class token matter.</summary>
    private static VitWeights Perturbed(VitWeights weights, int seed) =>
        new(weights.Tensors.Select((p, i) => KeyValuePair.Create(
            p.Key,
            p.Value with { Data = [.. p.Value.Data.Zip(TestData.Random(p.Value.Data.Length, seed + i, -0.1f, 0.1f), (v, noise) => v + noise)] })));

    private static float[] Images(VitConfig c, int batch, int seed) =>
        TestData.Random(batch * c.Channels * c.ImageSize * c.ImageSize, seed, -2f, 2f);

    /// <summary>max |actual − expected| ≤ tolerance × max |expected|.</summary>
    private static void AssertWithinMaxRelative(double[] expected, float[] actual, double tolerance, string what)
    {
        double scale = expected.Max(Math.Abs);
        Assert.True(scale > 0, $"{what}: all logits are zero");
        Close.Elementwise(expected, actual, relative: 0, absolute: tolerance * scale, what);
    }

    private static void AssertWithinMaxRelative(float[] expected, float[] actual, double tolerance, string what) =>
        AssertWithinMaxRelative([.. expected.Select(v => (double)v)], actual, tolerance, what);

    /// <summary>The ViT forward pass as written in timm, one loop at a time, in double precision.</summary>
    private static double[] Reference(VitConfig c, VitWeights w, float[] images, int batch)
    {
        int d = c.Width, t = c.Tokens, p = c.PatchSize, side = c.PatchesPerSide, s = c.ImageSize;
        double[] W(string name) => [.. w[name].Data.Select(v => (double)v)];
        var logits = new double[batch * c.Classes];
        for (int b = 0; b < batch; b++)
        {
            // Patch embedding: a P×P convolution with stride P, then the class token and positions.
            var x = new double[t, d];
            double[] pw = W("patch_embed.proj.weight"), pb = W("patch_embed.proj.bias"), pos = W("pos_embed");
            for (int py = 0; py < side; py++)
            {
                for (int px = 0; px < side; px++)
                {
                    int row = c.Prefix + py * side + px;
                    for (int o = 0; o < d; o++)
                    {
                        double sum = pb[o];
                        for (int ch = 0; ch < c.Channels; ch++)
                        {
                            for (int i = 0; i < p; i++)
                            {
                                for (int j = 0; j < p; j++)
                                {
                                    sum += pw[((o * c.Channels + ch) * p + i) * p + j]
                                        * images[((b * c.Channels + ch) * s + py * p + i) * s + px * p + j];
                                }
                            }
                        }

                        x[row, o] = sum;
                    }
                }
            }

            if (c.ClassToken)
            {
                double[] cls = W("cls_token");
                for (int o = 0; o < d; o++)
                {
                    x[0, o] = cls[o];
                }
            }

            for (int r = 0; r < t; r++)
            {
                for (int o = 0; o < d; o++)
                {
                    x[r, o] += pos[r * d + o];
                }
            }

            for (int layer = 0; layer < c.Depth; layer++)
            {
                string k = $"blocks.{(c.ShareLayers ? 0 : layer)}.";
                double[,] h = LayerNorm(x, W(k + "norm1.weight"), W(k + "norm1.bias"), c.LayerNormEps);
                double[,] qkv = Linear(h, W(k + "attn.qkv.weight"), W(k + "attn.qkv.bias"));
                var attended = new double[t, d];
                int hs = c.HeadSize;
                for (int head = 0; head < c.Heads; head++)
                {
                    for (int i = 0; i < t; i++)
                    {
                        var scores = new double[t];
                        for (int j = 0; j < t; j++)
                        {
                            double dot = 0;
                            for (int e = 0; e < hs; e++)
                            {
                                dot += qkv[i, head * hs + e] * qkv[j, d + head * hs + e];
                            }

                            scores[j] = dot / Math.Sqrt(hs);
                        }

                        OpReference.Softmax(scores);

                        for (int e = 0; e < hs; e++)
                        {
                            double sum = 0;
                            for (int j = 0; j < t; j++)
                            {
                                sum += scores[j] * qkv[j, 2 * d + head * hs + e];
                            }

                            attended[i, head * hs + e] = sum;
                        }
                    }
                }

                Accumulate(x, Linear(attended, W(k + "attn.proj.weight"), W(k + "attn.proj.bias")));
                double[,] hidden = Linear(LayerNorm(x, W(k + "norm2.weight"), W(k + "norm2.bias"), c.LayerNormEps), W(k + "mlp.fc1.weight"), W(k + "mlp.fc1.bias"));
                for (int i = 0; i < t; i++)
                {
                    for (int e = 0; e < c.MlpWidth; e++)
                    {
                        hidden[i, e] = 0.5 * hidden[i, e] * (1 + Erf(hidden[i, e] / Math.Sqrt(2)));
                    }
                }

                Accumulate(x, Linear(hidden, W(k + "mlp.fc2.weight"), W(k + "mlp.fc2.bias")));
            }

            // timm: norm then the class token, or (mean pooling) the mean then fc_norm.
            var pooled = new double[1, d];
            if (c.Pooling == PoolMode.ClassToken)
            {
                for (int o = 0; o < d; o++)
                {
                    pooled[0, o] = x[0, o];
                }
            }
            else
            {
                for (int r = c.Prefix; r < t; r++)
                {
                    for (int o = 0; o < d; o++)
                    {
                        pooled[0, o] += x[r, o] / c.Patches;
                    }
                }
            }

            string norm = c.Pooling == PoolMode.Mean ? "fc_norm" : "norm";
            double[,] result = Linear(LayerNorm(pooled, W(norm + ".weight"), W(norm + ".bias"), c.LayerNormEps), W("head.weight"), W("head.bias"));
            for (int o = 0; o < c.Classes; o++)
            {
                logits[b * c.Classes + o] = result[0, o];
            }
        }

        return logits;
    }

    private static double[,] LayerNorm(double[,] x, double[] gamma, double[] beta, double eps)
    {
        int rows = x.GetLength(0), cols = x.GetLength(1);
        var y = new double[rows, cols];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int i = 0; i < cols; i++)
            {
                mean += x[r, i] / cols;
            }

            for (int i = 0; i < cols; i++)
            {
                variance += (x[r, i] - mean) * (x[r, i] - mean) / cols;
            }

            for (int i = 0; i < cols; i++)
            {
                y[r, i] = (x[r, i] - mean) / Math.Sqrt(variance + eps) * gamma[i] + beta[i];
            }
        }

        return y;
    }

    /// <summary>y = x·Wᵀ + bias with W [out, in], as torch.nn.Linear.</summary>
    private static double[,] Linear(double[,] x, double[] weight, double[] bias)
    {
        int rows = x.GetLength(0), inputs = x.GetLength(1), outputs = bias.Length;
        var y = new double[rows, outputs];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outputs; o++)
            {
                double sum = bias[o];
                for (int i = 0; i < inputs; i++)
                {
                    sum += x[r, i] * weight[o * inputs + i];
                }

                y[r, o] = sum;
            }
        }

        return y;
    }

    private static void Accumulate(double[,] x, double[,] add)
    {
        for (int r = 0; r < x.GetLength(0); r++)
        {
            for (int i = 0; i < x.GetLength(1); i++)
            {
                x[r, i] += add[r, i];
            }
        }
    }

    /// <summary>erf to double precision, independent of the cpu backend's own.</summary>
    private static double Erf(double x)
    {
        // Taylor series for |x| < 3, erfc's continued fraction beyond: both to ~1e-15.
        double ax = Math.Abs(x);
        double result;
        if (ax < 3)
        {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200 && Math.Abs(term) > 1e-17 * Math.Abs(sum); n++)
            {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }

            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double f = 0;
            for (int n = 60; n >= 1; n--)
            {
                f = n / 2.0 / (ax + f);
            }

            result = 1 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / (ax + f);
        }

        return x < 0 ? -result : result;
    }
}
