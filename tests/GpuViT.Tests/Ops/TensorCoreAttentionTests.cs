using GpuViT.Kernels;
using GpuViT.Kernels.Cuda;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Kernels;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Ops;

/// <summary>
/// The fused tensor-core attention (Library/TensorCoreAttention.cs, chosen by KernelTransformerOps
/// for tf32, bf16 and fp16 at head sizes 64 and 128) on the emulator and OpenCL: against the cpu
/// backend's fp32 attention within each precision's bound, and tightly against a plain loop that
/// rounds Q, K, V and P as the kernel does; large logits, NaN, views at offsets, the fp32 fallback,
/// and NVRTC keeping the register arrays in registers. The OpenCL shapes also run on cuda where a
/// CUDA device opens.
/// </summary>
public sealed class TensorCoreAttentionTests(TestDevices devices) : IClassFixture<TestDevices>
{
    /// <summary>
    /// Normalized squared error against fp32 attention on inputs in [−2, 2]: a few times u² of the
    /// products' inputs (u = 2⁻⁸ for bf16, 2⁻¹¹ for tf32 and fp16), so about 1e-4 for bf16 and
    /// 2e-6 for the 11-bit formats. Measured on these shapes: bf16 3e-6 to 1.1e-5, tf32 and fp16
    /// 3e-8 to 1.6e-7, so about 10× below.
    /// </summary>
    private static double BoundAgainstFp32(Precision precision) => precision == Precision.Bf16 ? 1e-4 : 2e-6;

    /// <summary>
    /// Against the loop that rounds as the kernel does, only the order of fp32 sums (and on OpenCL
    /// its exp, which can flip a rare P rounding) differ. Measured: 0 to 2e-14 on the emulator, up
    /// to 1.2e-11 on OpenCL; fp32 results are 3e-8 to 1e-5 away from it on the same shapes.
    /// </summary>
    private const double TightBound = 1e-10;

    /// <summary>(precision, batch, tokens, heads, headSize) for OpenCL: tokens 1, 17, 64, 65 and 197, heads 1 to 6, batch 1 to 3.</summary>
    public static TheoryData<Precision, int, int, int, int> OpenClShapes()
    {
        var data = new TheoryData<Precision, int, int, int, int>();
        foreach (Precision precision in new[] { Precision.Tf32, Precision.Bf16, Precision.Fp16 })
        {
            data.Add(precision, 1, 1, 1, 64);
            data.Add(precision, 2, 17, 3, 128);
            data.Add(precision, 1, 64, 2, 64);
            data.Add(precision, 3, 65, 1, 128);
            data.Add(precision, 2, 197, 6, 64);
            data.Add(precision, 1, 197, 2, 128);
        }

        return data;
    }

    /// <summary>(precision, batch, tokens, heads, headSize) for the emulator: tokens ≤ 70, batch · heads ≤ 4.</summary>
    public static TheoryData<Precision, int, int, int, int> EmulatorShapes() => new()
    {
        { Precision.Tf32, 1, 1, 1, 64 },
        { Precision.Tf32, 1, 65, 2, 128 },
        { Precision.Bf16, 2, 17, 2, 64 },
        { Precision.Bf16, 1, 64, 1, 128 },
        { Precision.Fp16, 1, 65, 3, 64 },
        { Precision.Fp16, 2, 17, 1, 128 },
    };

    /// <summary>The OpenCL shapes on OpenCL and on a CUDA GPU (mma.sync in hardware; skipped where no CUDA device opens).</summary>
    public static TheoryData<string, Precision, int, int, int, int> KernelDeviceShapes()
    {
        var data = new TheoryData<string, Precision, int, int, int, int>();
        foreach (string backend in TestBackends.KernelDevices)
        {
            foreach (TheoryDataRow<Precision, int, int, int, int> row in OpenClShapes())
            {
                (Precision precision, int batch, int tokens, int heads, int headSize) = row.Data;
                data.Add(backend, precision, batch, tokens, heads, headSize);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(KernelDeviceShapes))]
    public void Kernel_devices_match_fp32_attention_and_the_rounding_loop(string backend, Precision precision, int batch, int tokens, int heads, int headSize) =>
        MatchesFp32AndTheRoundingLoop(backend, precision, batch, tokens, heads, headSize);

    [Theory]
    [MemberData(nameof(EmulatorShapes))]
    public void Emulator_matches_fp32_attention_and_the_rounding_loop(Precision precision, int batch, int tokens, int heads, int headSize) =>
        MatchesFp32AndTheRoundingLoop("emulator", precision, batch, tokens, heads, headSize);

    [Theory]
    [InlineData("emulator", Precision.Bf16, 64)]
    [InlineData("emulator", Precision.Tf32, 128)]
    [InlineData("opencl", Precision.Tf32, 64)]
    [InlineData("opencl", Precision.Bf16, 128)]
    [InlineData("opencl", Precision.Fp16, 64)]
    [InlineData("opencl", Precision.Fp16, 128)]
    public void Scores_near_80_stay_finite_and_match_the_rounding_loop(string backend, Precision precision, int headSize)
    {
        // exp(80) overflows nothing in fp32, but exp of a sum of such scores, or P in fp16, would
        // without the max subtracted; scores span about ±80 here.
        int batch = 1, tokens = backend == "emulator" ? 40 : 70, heads = 2;
        float[] qkv = TestData.Random(batch * tokens * 3 * heads * headSize, 31, -2f, 2f);
        float[] largeQkv = qkv.Select(v => v * 4.5f).ToArray();
        double maxScore = MaxAbsScore(largeQkv, batch, tokens, heads, headSize);
        Assert.InRange(maxScore, 60, 200);

        float[] result = Run(backend, precision, largeQkv, batch, tokens, heads, headSize);

        Assert.All(result, v => Assert.True(float.IsFinite(v)));
        Close.Nmse(RoundingReference(largeQkv, batch, tokens, heads, headSize, precision), result, TightBound, $"{backend} {precision} ×4.5");
    }

    [Theory]
    [InlineData("emulator", Precision.Bf16, 64)]
    [InlineData("opencl", Precision.Tf32, 128)]
    [InlineData("opencl", Precision.Bf16, 64)]
    [InlineData("opencl", Precision.Fp16, 128)]
    public void NaN_in_a_query_makes_only_that_query_and_head_NaN(string backend, Precision precision, int headSize)
    {
        // As the fused fp32 kernel (AttentionTests): the NaN query's scores are NaN, its row max
        // stays −∞ (max ignores NaN), exp(NaN) carries NaN into its sum and output, and no other
        // row or head sees it.
        int batch = 2, tokens = 37, heads = 2, dim = heads * headSize;
        float[] qkv = TestData.Random(batch * tokens * 3 * dim, 32);
        int image = 1, token = 33, head = 1;
        qkv[(image * tokens + token) * 3 * dim + head * headSize + 3] = float.NaN;

        float[] result = Run(backend, precision, qkv, batch, tokens, heads, headSize);

        for (int i = 0; i < result.Length; i++)
        {
            int b = i / (tokens * dim), t = i / dim % tokens, c = i % dim;
            bool poisoned = b == image && t == token && c / headSize == head;
            Assert.True(poisoned ? float.IsNaN(result[i]) : float.IsFinite(result[i]), $"{backend} {precision}: output[{b}, {t}, {c}] = {result[i]}");
        }
    }

    [Theory]
    [InlineData("emulator", Precision.Fp16)]
    [InlineData("opencl", Precision.Bf16)]
    public void Views_at_offsets_read_and_write_only_their_elements(string backend, Precision precision)
    {
        int batch = 2, tokens = 19, heads = 1, headSize = 64, dim = heads * headSize, lead = 5;
        float[] qkv = TestData.Random(batch * tokens * 3 * dim, 33);
        double[] expected = RoundingReference(qkv, batch, tokens, heads, headSize, precision);
        using var ops = new KernelTransformerOps(devices.Device(backend), null, precision);
        using var input = ops.Device.Upload<float>([.. new float[lead], .. qkv]);
        using var output = ops.Device.Upload<float>(Enumerable.Repeat(-7f, batch * tokens * dim + 2 * lead).ToArray());

        ops.Attention(input.View(lead, qkv.Length), output.View(lead, batch * tokens * dim), batch, tokens, heads, headSize);
        ops.Device.Synchronize();

        float[] all = output.ToArray();
        Close.Nmse(expected, all[lead..^lead], TightBound, $"{backend} {precision}");
        Assert.All(all[..lead].Concat(all[^lead..]), v => Assert.Equal(-7f, v));
    }

    [Theory]
    [InlineData("emulator", Precision.Bf16, 32, true)]
    [InlineData("emulator", Precision.Fp16, 64, false)]
    [InlineData("opencl", Precision.Tf32, 80, true)]
    [InlineData("opencl", Precision.Bf16, 128, false)]
    public void Other_head_sizes_and_the_unfused_path_compute_in_fp32(string backend, Precision precision, int headSize, bool fused)
    {
        int batch = 1, tokens = 21, heads = 2;
        float[] qkv = TestData.Random(batch * tokens * 3 * heads * headSize, 34, -2f, 2f);
        float[] expected = Run(devices.Ops("cpu"), qkv, batch, tokens, heads, headSize, fused: true);
        using var ops = new KernelTransformerOps(devices.Device(backend), null, precision);

        // The fp32 kernels' bound (AttentionTests), far below what the precision would give.
        Close.Nmse(expected, Run(ops, qkv, batch, tokens, heads, headSize, fused), 1e-11, $"{backend} {precision} headSize={headSize} fused={fused}");
    }

    public static TheoryData<string, string> KernelsAndArchitectures()
    {
        var data = new TheoryData<string, string>();
        foreach (string precision in new[] { "Tf32", "Bf16", "F16" })
        {
            foreach (int headSize in new[] { 64, 128 })
            {
                data.Add($"AttentionMma{precision}Head{headSize}", "sm_80");
                data.Add($"AttentionMma{precision}Head{headSize}", "sm_90");
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(KernelsAndArchitectures))]
    public void Register_arrays_stay_in_registers_nvrtc(string name, string architecture)
    {
        RuntimeRequirement.Nvrtc();
        KernelResources resources = CubinResources.Read(Nvrtc.CompileToCubin(AllKernels.Get(name), architecture), name);

        Assert.Equal(0, resources.StackBytes);
    }

    private void MatchesFp32AndTheRoundingLoop(string backend, Precision precision, int batch, int tokens, int heads, int headSize)
    {
        float[] qkv = TestData.Random(batch * tokens * 3 * heads * headSize, 30 + tokens, -2f, 2f);
        float[] fp32 = Run(devices.Ops("cpu"), qkv, batch, tokens, heads, headSize, fused: true);

        float[] result = Run(backend, precision, qkv, batch, tokens, heads, headSize);

        Close.Nmse(fp32, result, BoundAgainstFp32(precision), $"{backend} {precision} vs cpu fp32");
        Close.Nmse(RoundingReference(qkv, batch, tokens, heads, headSize, precision), result, TightBound, $"{backend} {precision} vs the rounding loop");
    }

    private float[] Run(string backend, Precision precision, float[] qkv, int batch, int tokens, int heads, int headSize)
    {
        using var ops = new KernelTransformerOps(devices.Device(backend), null, precision);
        return Run(ops, qkv, batch, tokens, heads, headSize, fused: true);
    }

    private static float[] Run(TransformerOps ops, float[] qkv, int batch, int tokens, int heads, int headSize, bool fused)
    {
        using var input = ops.Device.Upload<float>(qkv);
        using var output = ops.Device.Allocate<float>(batch * tokens * heads * headSize);
        ops.Attention(input, output, batch, tokens, heads, headSize, fused);
        return output.ToArray();
    }

    /// <summary>A value as the kernel feeds it to the MMA: TF32 (ties away from zero), BF16 or FP16 (ties to even).</summary>
    private static float Round(float value, Precision precision) => precision switch
    {
        Precision.Tf32 => BitConverter.UInt32BitsToSingle(MmaFragments.Tf32Bits(BitConverter.SingleToUInt32Bits(value))),
        Precision.Bf16 => MmaFragments.Bf16Value(MmaFragments.Bf16Bits(value)),
        _ => MmaFragments.HalfValue(MmaFragments.HalfBits(value)),
    };

    /// <summary>
    /// The kernel's maths as a plain loop: per query, keys in tiles of <see cref="TensorCoreAttention.KeyTile"/>;
    /// the score an fp32 sum of the rounded q·k (exact products, in column order, as the MMA
    /// emulation adds them) times the scale; p = exp(s − running max) in fp32, rounded to the
    /// precision for P·V (the running sum takes p unrounded, as the kernel's); the output
    /// Σ round(p)·round(v), rescaled per tile, over the sum, in double.
    /// </summary>
    private static double[] RoundingReference(float[] qkv, int batch, int tokens, int heads, int headSize, Precision precision)
    {
        int dim = heads * headSize, stride = 3 * dim;
        float scale = 1f / MathF.Sqrt(headSize);
        float[] rounded = qkv.Select(v => Round(v, precision)).ToArray();
        var output = new double[batch * tokens * dim];
        var accumulator = new double[headSize];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < tokens; i++)
                {
                    int q = (b * tokens + i) * stride + h * headSize;
                    float max = float.NegativeInfinity;
                    double sum = 0;
                    Array.Clear(accumulator);
                    for (int first = 0; first < tokens; first += TensorCoreAttention.KeyTile)
                    {
                        int count = Math.Min(TensorCoreAttention.KeyTile, tokens - first);
                        var scores = new float[count];
                        for (int j = 0; j < count; j++)
                        {
                            int k = (b * tokens + first + j) * stride + dim + h * headSize;
                            float dot = 0f;
                            for (int c = 0; c < headSize; c++)
                            {
                                dot = MathF.FusedMultiplyAdd(rounded[q + c], rounded[k + c], dot);
                            }

                            scores[j] = dot * scale;
                        }

                        float newMax = MathF.Max(max, scores.Max());
                        float correction = MathF.Exp(max - newMax);
                        sum *= correction;
                        for (int c = 0; c < headSize; c++)
                        {
                            accumulator[c] *= correction;
                        }

                        for (int j = 0; j < count; j++)
                        {
                            float p = MathF.Exp(scores[j] - newMax);
                            sum += p;
                            double weight = Round(p, precision);
                            int v = (b * tokens + first + j) * stride + 2 * dim + h * headSize;
                            for (int c = 0; c < headSize; c++)
                            {
                                accumulator[c] += weight * rounded[v + c];
                            }
                        }

                        max = newMax;
                    }

                    for (int c = 0; c < headSize; c++)
                    {
                        output[(b * tokens + i) * dim + h * headSize + c] = accumulator[c] / sum;
                    }
                }
            }
        }

        return output;
    }

    /// <summary>The largest |scale · q·k| of the input, in double.</summary>
    private static double MaxAbsScore(float[] qkv, int batch, int tokens, int heads, int headSize)
    {
        int dim = heads * headSize, stride = 3 * dim;
        double max = 0;
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < tokens; i++)
                {
                    for (int j = 0; j < tokens; j++)
                    {
                        double dot = 0;
                        for (int c = 0; c < headSize; c++)
                        {
                            dot += (double)qkv[(b * tokens + i) * stride + h * headSize + c] * qkv[(b * tokens + j) * stride + dim + h * headSize + c];
                        }

                        max = Math.Max(max, Math.Abs(dot / Math.Sqrt(headSize)));
                    }
                }
            }
        }

        return max;
    }
}
