using GpuViT.Kernels.Ops;

namespace GpuViT.Models.Vit;

/// <summary>Weights that do not fit a ViT definition: one line naming the tensor and the problem.</summary>
public sealed class VitWeightsException(string message) : ArgumentException(message);

/// <summary>One float32 tensor in host memory, row-major.</summary>
public sealed record VitTensor(int[] Shape, float[] Data)
{
    public static long Elements(IReadOnlyList<int> shape) => shape.Aggregate(1L, (n, d) => n * d);

    public string ShapeText => FormatShape(Shape);

    internal static string FormatShape(IReadOnlyList<int> shape) => $"[{string.Join(", ", shape)}]";
}

/// <summary>
/// A ViT's tensors by timm's names (patch_embed.proj.weight, blocks.0.attn.qkv.weight, ...), in
/// host memory. With <see cref="VitConfig.ShareLayers"/> only blocks.0.* exist. The final
/// LayerNorm is <c>norm.*</c> with class-token pooling and <c>fc_norm.*</c> with mean pooling,
/// as timm names them (it normalises after pooling there).
/// </summary>
public sealed class VitWeights
{
    private readonly Dictionary<string, VitTensor> _tensors;

    public VitWeights(IEnumerable<KeyValuePair<string, VitTensor>> tensors)
    {
        _tensors = new Dictionary<string, VitTensor>(StringComparer.Ordinal);
        foreach ((string name, VitTensor tensor) in tensors)
        {
            if (VitTensor.Elements(tensor.Shape) != tensor.Data.Length)
            {
                throw new VitWeightsException($"{name}: shape {tensor.ShapeText} holds {VitTensor.Elements(tensor.Shape)} values, data has {tensor.Data.Length}");
            }

            if (!_tensors.TryAdd(name, tensor))
            {
                throw new VitWeightsException($"{name}: given twice");
            }
        }
    }

    public IReadOnlyDictionary<string, VitTensor> Tensors => _tensors;

    public VitTensor this[string name] =>
        _tensors.TryGetValue(name, out VitTensor? tensor) ? tensor : throw new VitWeightsException($"{name}: missing");

    public long ParameterCount => _tensors.Values.Sum(t => (long)t.Data.Length);

    /// <summary>The name of the final LayerNorm's tensors without the .weight/.bias suffix.</summary>
    public static string FinalNormName(VitConfig config) => config.Pooling == PoolMode.Mean ? "fc_norm" : "norm";

    /// <summary>Every tensor a config needs, in timm's order, with its shape.</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> ExpectedShapes(VitConfig config)
    {
        config.Validate();
        int d = config.Width, m = config.MlpWidth, p = config.PatchSize;
        var shapes = new List<(string, int[])>
        {
            ("patch_embed.proj.weight", [d, config.Channels, p, p]),
            ("patch_embed.proj.bias", [d]),
        };
        if (config.ClassToken)
        {
            shapes.Add(("cls_token", [1, 1, d]));
        }

        shapes.Add(("pos_embed", [1, config.Tokens, d]));
        for (int i = 0; i < config.StoredBlocks; i++)
        {
            string b = $"blocks.{i}.";
            shapes.Add((b + "norm1.weight", [d]));
            shapes.Add((b + "norm1.bias", [d]));
            shapes.Add((b + "attn.qkv.weight", [3 * d, d]));
            shapes.Add((b + "attn.qkv.bias", [3 * d]));
            shapes.Add((b + "attn.proj.weight", [d, d]));
            shapes.Add((b + "attn.proj.bias", [d]));
            shapes.Add((b + "norm2.weight", [d]));
            shapes.Add((b + "norm2.bias", [d]));
            shapes.Add((b + "mlp.fc1.weight", [m, d]));
            shapes.Add((b + "mlp.fc1.bias", [m]));
            shapes.Add((b + "mlp.fc2.weight", [d, m]));
            shapes.Add((b + "mlp.fc2.bias", [d]));
        }

        string norm = FinalNormName(config);
        shapes.Add(($"{norm}.weight", [d]));
        shapes.Add(($"{norm}.bias", [d]));
        shapes.Add(("head.weight", [config.Classes, d]));
        shapes.Add(("head.bias", [config.Classes]));
        return shapes;
    }

    /// <summary>Every way these weights do not fit the config, one line each (empty when they fit).</summary>
    public IReadOnlyList<string> Problems(VitConfig config) =>
        Problems(_tensors.ToDictionary(t => t.Key, t => t.Value.Shape, StringComparer.Ordinal), config);

    /// <summary>Every way tensors of these names and shapes do not fit the config, one line each (empty when they fit): checked before any data is read.</summary>
    public static IReadOnlyList<string> Problems(IReadOnlyDictionary<string, int[]> shapes, VitConfig config)
    {
        var problems = new List<string>();
        var expected = ExpectedShapes(config);
        foreach ((string name, int[] shape) in expected)
        {
            if (!shapes.TryGetValue(name, out int[]? actual))
            {
                problems.Add($"{name}: missing (expected shape {VitTensor.FormatShape(shape)})");
            }
            else if (!actual.SequenceEqual(shape))
            {
                problems.Add($"{name}: shape {VitTensor.FormatShape(actual)}, the config needs {VitTensor.FormatShape(shape)}");
            }
        }

        var expectedNames = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in shapes.Keys.Where(n => !expectedNames.Contains(n)).Order(StringComparer.Ordinal))
        {
            problems.Add(config.ShareLayers && name.StartsWith("blocks.", StringComparison.Ordinal)
                ? $"{name}: unexpected (with ShareLayers only blocks.0.* exist)"
                : $"{name}: unexpected tensor");
        }

        return problems;
    }

    /// <summary>Throws <see cref="VitWeightsException"/> with the first problem (and how many more) unless the weights fit.</summary>
    public VitWeights Validate(VitConfig config)
    {
        ThrowIfAny(Problems(config));
        return this;
    }

    /// <summary>Throws <see cref="VitWeightsException"/> with the first problem (and how many more) unless tensors of these names and shapes fit.</summary>
    public static void Validate(IReadOnlyDictionary<string, int[]> shapes, VitConfig config) => ThrowIfAny(Problems(shapes, config));

    private static void ThrowIfAny(IReadOnlyList<string> problems)
    {
        if (problems.Count > 0)
        {
            string more = problems.Count > 1 ? $" (and {problems.Count - 1} more problems)" : "";
            throw new VitWeightsException(problems[0] + more);
        }
    }

    /// <summary>
    /// Weights drawn like timm's init, roughly: linear, conv and position weights from a normal
    /// of std 0.02 truncated at ±2σ, the class token at std 1e-6, biases zero, LayerNorms
    /// γ = 1, β = 0. The same seed gives the same weights.
    /// </summary>
    public static VitWeights RandomInit(VitConfig config, int seed)
    {
        var random = new Random(seed);
        var tensors = new List<KeyValuePair<string, VitTensor>>();
        foreach ((string name, int[] shape) in ExpectedShapes(config))
        {
            var data = new float[VitTensor.Elements(shape)];
            bool isNorm = name.Contains("norm", StringComparison.Ordinal);
            if (isNorm && name.EndsWith(".weight", StringComparison.Ordinal))
            {
                Array.Fill(data, 1f);
            }
            else if (name == "cls_token")
            {
                FillTruncatedNormal(random, data, 1e-6);
            }
            else if (!isNorm && !name.EndsWith(".bias", StringComparison.Ordinal))
            {
                FillTruncatedNormal(random, data, 0.02);
            }

            tensors.Add(new(name, new VitTensor(shape, data)));
        }

        return new VitWeights(tensors);
    }

    private static void FillTruncatedNormal(Random random, float[] data, double std)
    {
        for (int i = 0; i < data.Length; i++)
        {
            double z;
            do
            {
                // Box–Muller; 1 − u keeps the log away from zero.
                double u = 1.0 - random.NextDouble(), v = random.NextDouble();
                z = Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v);
            }
            while (Math.Abs(z) > 2.0);

            data[i] = (float)(z * std);
        }
    }
}
