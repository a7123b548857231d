using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;

namespace GpuViT.Bench;

/// <summary>
/// The cpu GEMM with W packed before the call, with and without the software prefetch of the next
/// W panel, over the linear layers of ViT-S/16's 12 blocks at batch 1 and size 128 (65 tokens):
/// qkv 384 → 1152, proj 384 → 384 (+ residual), fc1 384 → 1536 (exact GELU), fc2 1536 → 384
/// (+ residual). Each layer has its own weights, about 85 MB in all, far beyond L3, so every W
/// panel streams from memory as in a forward pass (<see cref="CpuGemmBenchmarks"/> reuses one W,
/// which stays in cache and cannot show the prefetch). One call is the 48 GEMMs in order.
/// </summary>
[Config(typeof(Config))]
public unsafe class CpuGemmPrefetchBenchmarks
{
    private const int Tokens = 65, Dim = 384, Hidden = 1536, Layers = 12;

    // 2 FLOPs per multiply-add: qkv, proj, fc1 and fc2 of every layer.
    private const double FlopsPerCall = 2.0 * Tokens * Dim * (3 * Dim + Dim + Hidden + Hidden) * Layers;

    private float* _stream, _qkv, _attention, _hidden;
    private float* _qkvBias, _projBias, _fc1Bias, _fc2Bias;
    private Layer[] _prefetching = [], _plain = [];

    private sealed record Layer(PackedGemmWeight Qkv, PackedGemmWeight Proj, PackedGemmWeight Fc1, PackedGemmWeight Fc2) : IDisposable
    {
        public void Dispose()
        {
            Qkv.Dispose();
            Proj.Dispose();
            Fc1.Dispose();
            Fc2.Dispose();
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        // Both sets are packed in every case's process so that the two cases start alike.
        var random = new Random(1);
        _stream = NativeNoise.Allocate(Tokens * Dim, random);
        _qkv = NativeNoise.Allocate(Tokens * 3 * Dim, random);
        _attention = NativeNoise.Allocate(Tokens * Dim, random);
        _hidden = NativeNoise.Allocate(Tokens * Hidden, random);
        _qkvBias = NativeNoise.Allocate(3 * Dim, random);
        _projBias = NativeNoise.Allocate(Dim, random);
        _fc1Bias = NativeNoise.Allocate(Hidden, random);
        _fc2Bias = NativeNoise.Allocate(Dim, random);

        // Only the wide (Vector512) tuning has prefetching kernels; elsewhere both cases run the same.
        var tuning = CpuGemm.Current;
        var withoutPrefetch = tuning == CpuGemm.Wide ? CpuGemm.WideWithoutPrefetch : tuning;
        Console.WriteLine($"// {tuning.Name} micro-kernel; {Layers} layers of distinct weights, packed twice");
        _prefetching = Pack(tuning, random);
        _plain = Pack(withoutPrefetch, random);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (Layer layer in _prefetching.Concat(_plain))
        {
            layer.Dispose();
        }

        foreach (float* p in new[] { _stream, _qkv, _attention, _hidden, _qkvBias, _projBias, _fc1Bias, _fc2Bias })
        {
            NativeMemory.AlignedFree(p);
        }
    }

    [Benchmark(Baseline = true)]
    public void Prefetch() => Forward(_prefetching);

    [Benchmark]
    public void NoPrefetch() => Forward(_plain);

    /// <summary>The 48 GEMMs of a forward pass (the layer norms and attention left out: X stands in for their outputs).</summary>
    private void Forward(Layer[] layers)
    {
        foreach (Layer layer in layers)
        {
            CpuGemm.Gemm(Tokens, _stream, Dim, layer.Qkv, _qkvBias, null, 0, _qkv, 3 * Dim);
            CpuGemm.Gemm(Tokens, _attention, Dim, layer.Proj, _projBias, _stream, Dim, _stream, Dim);
            CpuGemm.Gemm(Tokens, _stream, Dim, layer.Fc1, _fc1Bias, null, 0, _hidden, Hidden, Activation.Gelu);
            CpuGemm.Gemm(Tokens, _hidden, Hidden, layer.Fc2, _fc2Bias, _stream, Dim, _stream, Dim);
        }

        // Keep the residual stream bounded over millions of calls: reset it from the attention stand-in.
        Buffer.MemoryCopy(_attention, _stream, Tokens * Dim * sizeof(float), Tokens * Dim * sizeof(float));
    }

    private static Layer[] Pack(CpuGemm.Tuning tuning, Random random)
    {
        var layers = new Layer[Layers];
        for (int i = 0; i < Layers; i++)
        {
            layers[i] = new Layer(
                PackRandom(tuning, 3 * Dim, Dim, random),
                PackRandom(tuning, Dim, Dim, random),
                PackRandom(tuning, Hidden, Dim, random),
                PackRandom(tuning, Dim, Hidden, random));
        }

        return layers;
    }

    private static PackedGemmWeight PackRandom(CpuGemm.Tuning tuning, int n, int k, Random random)
    {
        var w = new float[n * k];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)((random.NextDouble() * 2 - 1) * 0.05);
        }

        return CpuGemm.PackWeight(tuning, n, k, w, 0);
    }


    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(5).WithIterationCount(20));
            AddColumn(RateColumn.Gflops(_ => FlopsPerCall, "2·M·N·K floating-point operations per second over the 48 GEMMs, in billions"));
            WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
        }
    }
}
