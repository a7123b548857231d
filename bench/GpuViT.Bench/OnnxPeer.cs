using Microsoft.ML.OnnxRuntime;

namespace GpuViT.Bench;

/// <summary>
/// An image classifier exported to ONNX (images [batch, channels, size, size] in, logits
/// [batch, classes] out), run in process by ONNX Runtime's cpu execution provider as a .NET
/// engineer would set it up for speed: every graph optimisation (ORT_ENABLE_ALL: fused
/// LayerNorm, GELU, attention and MatMul+Add where ORT recognises them), sequential execution,
/// <c>threads</c> intra-op threads. Shared with the tests (compiled into GpuViT.Tests), so what
/// the bench times is what the test checks against GpuViT.
/// </summary>
public sealed class OnnxPeer : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private readonly string _input;
    private readonly string _output;
    private readonly bool _profiling;

    /// <param name="optimizedModelPath">Where ORT writes the graph it runs, after its optimisations (to see which fusions it made); null: nowhere.</param>
    /// <param name="profilePrefix">Where ORT's profiler writes each node's time (PREFIX_DATE.json, at <see cref="Dispose"/>); null: no profiling, which costs time.</param>
    public OnnxPeer(string path, int threads, string? optimizedModelPath = null, string? profilePrefix = null)
    {
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads,
        };
        if (optimizedModelPath is not null)
        {
            options.OptimizedModelFilePath = optimizedModelPath;
        }

        if (profilePrefix is not null)
        {
            // The prefix first: enabling profiling hands ORT the prefix set at that moment.
            options.ProfileOutputPathPrefix = profilePrefix;
            options.EnableProfiling = true;
            _profiling = true;
        }

        _session = new InferenceSession(path, options);
        if (_session.InputNames.Count != 1 || _session.OutputNames.Count != 1)
        {
            throw new InvalidDataException($"{Path.GetFileName(path)}: expected one input and one output, not {_session.InputNames.Count} and {_session.OutputNames.Count}");
        }

        _input = _session.InputNames[0];
        _output = _session.OutputNames[0];
        int[] image = _session.InputMetadata[_input].Dimensions;
        int[] logits = _session.OutputMetadata[_output].Dimensions;
        if (image.Length != 4 || logits.Length != 2 || image[1..].Any(d => d < 1) || logits[1] < 1)
        {
            throw new InvalidDataException($"{Path.GetFileName(path)}: expected images [batch, C, H, W] and logits [batch, classes] of fixed sizes but the batch");
        }

        (Channels, ImageSize, Classes) = (image[1], image[2], logits[1]);
        Threads = threads;
    }

    public int Channels { get; }

    public int ImageSize { get; }

    public int Classes { get; }

    public int Threads { get; }

    /// <summary>ONNX Runtime's version, as its native library reports it.</summary>
    public static string Version => OrtEnv.Instance().GetVersionString();

    /// <summary>Logits for <paramref name="batch"/> images, written into <paramref name="logits"/>: both arrays are used in place, not copied.</summary>
    public void Run(float[] images, int batch, float[] logits)
    {
        long pixels = (long)batch * Channels * ImageSize * ImageSize;
        if (images.Length != pixels || logits.Length != (long)batch * Classes)
        {
            throw new ArgumentException($"batch {batch}: {pixels} pixels and {batch * Classes} logits expected, not {images.Length} and {logits.Length}");
        }

        using OrtValue input = OrtValue.CreateTensorValueFromMemory(images, [batch, Channels, ImageSize, ImageSize]);
        using OrtValue output = OrtValue.CreateTensorValueFromMemory(logits, [batch, Classes]);
        _session.Run(_run, [_input], [input], [_output], [output]);
    }

    /// <summary>Logits [batch, classes] for <paramref name="batch"/> images.</summary>
    public float[] Run(float[] images, int batch)
    {
        var logits = new float[batch * Classes];
        Run(images, batch, logits);
        return logits;
    }

    public void Dispose()
    {
        if (_profiling)
        {
            _session.EndProfiling();
        }

        _session.Dispose();
        _run.Dispose();
    }
}
