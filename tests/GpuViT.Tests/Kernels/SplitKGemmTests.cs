using System.Text.Json;
using GpuViT.Kernels.Cpu;
using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;
using GpuViT.Tests.Host;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The fp32 register-blocked GEMM with k split into parts (Library/Gemm.cs's
/// GemmRegisterBlockedSplitK, then TensorCoreGemm.SplitKReduce's epilogue), forced through
/// KernelTransformerOps on the emulator and OpenCL (and CUDA where present): against the cpu
/// backend's GEMM and a plain double loop, with a shorter last part, m and n edges of the 64 × 64
/// block, every epilogue, 1 to 16 parts, views at offsets and Y over its own residual; and the plan
/// that chooses the split on GPUs. The emulator gets small shapes.
/// </summary>
public sealed class SplitKGemmTests(TestDevices devices) : IClassFixture<TestDevices>
{
    public static TheoryData<string, int, int, int, int, Activation, bool, bool> Cases()
    {
        var data = new TheoryData<string, int, int, int, int, Activation, bool, bool>();
        foreach (string backend in TestDevices.KernelBackends)
        {
            // k 150: 10 slices of 16 (the last 6 deep) in parts of 3, 3, 3, 1.
            data.Add(backend, 19, 23, 150, 3, Activation.Gelu, true, true);
            data.Add(backend, 65, 67, 40, 1, Activation.GeluTanh, true, false);
            data.Add(backend, 1, 1, 17, 1, Activation.None, false, false);
            data.Add(backend, 7, 64, 48, 2, Activation.None, false, true);
        }

        foreach (string backend in TestBackends.KernelDevices)
        {
            // ViT-S at batch 1 on 132 SMs: fc2 (k 1536, 6 parts of 16 slices) and proj (k 384, 6 of 4).
            data.Add(backend, 197, 384, 1536, 16, Activation.None, true, true);
            data.Add(backend, 197, 384, 384, 4, Activation.None, true, true);
            data.Add(backend, 130, 67, 129, 2, Activation.Gelu, true, true);
            data.Add(backend, 129, 130, 131, 3, Activation.GeluTanh, false, true);
            data.Add(backend, 3, 130, 250, 1, Activation.GeluTanh, true, false);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Split_k_matches_cpu_and_a_loop(string backend, int m, int n, int k, int slicesPerSplit, Activation activation, bool hasBias, bool hasResidual)
    {
        float[] x = TestData.Random(m * k, 61), w = TestData.Random(n * k, 62), bias = TestData.Random(n, 63), residual = TestData.Random(m * n, 64);
        int slices = (k + Gemm.BlockK - 1) / Gemm.BlockK;
        int splits = (slices + slicesPerSplit - 1) / slicesPerSplit;
        Assert.True(splits >= 2, "the case must split");
        KernelTransformerOps ops = Ops(backend, new SplitKPlan(splits, slicesPerSplit));
        Assert.Equal((GemmVersion.RegisterBlocked, splits), ops.GemmPlanFor(m, n, k));

        float[] y = TensorCoreGemmTests.Run(ops, x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation);

        string what = $"{backend} {m}x{n}x{k} in {splits} parts {activation}";
        ExpectCpu(x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation, y, what);
        GemmKernelTests.Expect(x, w, hasBias ? bias : null, hasResidual ? residual : null, m, n, k, activation, y, what);
    }

    /// <summary>Every count of parts from 1 (the plain kernel) to 16, the most the plan makes: 2·parts slices of 16, the last 11 deep.</summary>
    [Theory]
    [KernelBackendData]
    public void Every_count_of_parts_from_1_to_16_matches_cpu(string backend)
    {
        const int m = 37, n = 53;
        for (int parts = 1; parts <= SplitKPlan.MaximumSplits; parts++)
        {
            int k = 2 * parts * Gemm.BlockK - 5;
            float[] x = TestData.Random(m * k, 70 + parts), w = TestData.Random(n * k, 90 + parts), bias = TestData.Random(n, 71);
            KernelTransformerOps ops = Ops(backend, new SplitKPlan(parts, 2));
            Assert.Equal((GemmVersion.RegisterBlocked, parts), ops.GemmPlanFor(m, n, k));

            float[] y = TensorCoreGemmTests.Run(ops, x, w, bias, null, m, n, k, Activation.Gelu);

            ExpectCpu(x, w, bias, null, m, n, k, Activation.Gelu, y, $"{backend} {parts} parts");
        }
    }

    /// <summary>Every operand a view at an odd offset into one buffer, and Y the residual itself: the reduce reads each residual before writing it.</summary>
    [Theory]
    [KernelBackendData]
    public void Split_k_takes_views_at_offsets_and_writes_over_its_residual(string backend)
    {
        const int m = 21, n = 70, k = 83;
        float[] x = TestData.Random(m * k, 81), w = TestData.Random(n * k, 82), bias = TestData.Random(n, 83), residual = TestData.Random(m * n, 84);
        (int xAt, int wAt, int biasAt, int yAt) = (3, 3 + m * k + 5, 3 + m * k + 5 + n * k + 1, 3 + m * k + 5 + n * k + 1 + n + 2);
        int length = yAt + m * n + 4;
        float[] all = TestData.Random(length, 85);
        x.CopyTo(all, xAt);
        w.CopyTo(all, wAt);
        bias.CopyTo(all, biasAt);
        residual.CopyTo(all, yAt);

        KernelTransformerOps ops = Ops(backend, new SplitKPlan(3, 2));
        using DeviceBuffer<float> buffer = ops.Device.Upload<float>(all);
        DeviceView<float> y = buffer.View(yAt, m * n);
        ops.Gemm(buffer.View(xAt, m * k), buffer.View(wAt, n * k), buffer.View(biasAt, n), y, y, m, n, k, Activation.GeluTanh);

        float[] after = buffer.ToArray();
        GemmKernelTests.Expect(x, w, bias, residual, m, n, k, Activation.GeluTanh, after[yAt..(yAt + m * n)], $"{backend} views");

        // Nothing outside Y was written.
        Assert.Equal(all[..yAt], after[..yAt]);
        Assert.Equal(all[(yAt + m * n)..], after[(yAt + m * n)..]);
    }

    /// <summary>The fp32 packed weight goes through the same split as the plain Gemm, to the bit.</summary>
    [Theory]
    [KernelBackendData]
    public void Packed_weight_splits_as_the_plain_gemm(string backend)
    {
        const int m = 33, n = 41, k = 100;
        float[] x = TestData.Random(m * k, 91), w = TestData.Random(n * k, 92), bias = TestData.Random(n, 93);
        KernelTransformerOps ops = Ops(backend, new SplitKPlan(4, 2));
        Device device = ops.Device;
        using PackedWeight packed = ops.PackWeight(w, n, k);
        using DeviceBuffer<float> xs = device.Upload<float>(x), ws = device.Upload<float>(w), bs = device.Upload<float>(bias);
        using DeviceBuffer<float> plain = device.Allocate<float>(m * n), fromPacked = device.Allocate<float>(m * n);

        ops.Gemm(xs, ws, bs.View(), null, plain, m, n, k, Activation.Gelu);
        ops.Gemm(xs, packed, bs.View(), null, fromPacked, m, Activation.Gelu);

        Assert.Equal(plain.ToArray(), fromPacked.ToArray());
        GemmKernelTests.Expect(x, w, bias, null, m, n, k, Activation.Gelu, fromPacked.ToArray(), $"{backend} packed");
    }

    [Fact]
    public void Plan_splits_k_when_the_64x64_groups_fill_less_than_half_the_device()
    {
        // ViT-S at batch 1 (197 tokens) on an H200's 132 SMs: fc2 and proj have 4 × 6 = 24 groups, 6 parts.
        Assert.Equal(new SplitKPlan(6, 16), KernelTransformerOps.Fp32SplitForComputeUnits(197, 384, 1536, 132));
        Assert.Equal(new SplitKPlan(6, 4), KernelTransformerOps.Fp32SplitForComputeUnits(197, 384, 384, 132));

        // qkv (72 groups) and fc1 (96) fill more than half the device: no split.
        Assert.Equal(new SplitKPlan(1, 24), KernelTransformerOps.Fp32SplitForComputeUnits(197, 1152, 384, 132));
        Assert.Equal(new SplitKPlan(1, 24), KernelTransformerOps.Fp32SplitForComputeUnits(197, 1536, 384, 132));

        // Batch 8 (1576 tokens): 25 × 6 groups, no split.
        Assert.Equal(new SplitKPlan(1, 96), KernelTransformerOps.Fp32SplitForComputeUnits(1576, 384, 1536, 132));

        // A short k is not split below 4 slices a part; k 0 runs one empty part; the most is 16 parts.
        Assert.Equal(new SplitKPlan(1, 3), KernelTransformerOps.Fp32SplitForComputeUnits(10, 10, 48, 132));
        Assert.Equal(new SplitKPlan(2, 4), KernelTransformerOps.Fp32SplitForComputeUnits(10, 10, 128, 132));
        Assert.Equal(new SplitKPlan(1, 1), KernelTransformerOps.Fp32SplitForComputeUnits(10, 10, 0, 132));
        Assert.Equal(new SplitKPlan(16, 8), KernelTransformerOps.Fp32SplitForComputeUnits(1, 1, 2048, 132));

        // Parts of whole slices, the last shorter where they do not divide (17 = 5 + 5 + 5 + 2), never an empty one.
        Assert.Equal(new SplitKPlan(2, 5), SplitKPlan.For(1, 10, 132));
        Assert.Equal(new SplitKPlan(4, 5), SplitKPlan.For(5, 17, 40));
    }

    /// <summary>Off GPUs no split unless forced; on a GPU (cuda rows, skipped without one) the plan for its multiprocessors; a named version never splits.</summary>
    [Theory]
    [KernelBackendData]
    public void Unnamed_fp32_ops_split_only_on_gpus(string backend)
    {
        Device device = devices.Device(backend);
        using var chosen = new KernelTransformerOps(device);
        using var named = new KernelTransformerOps(device, GemmVersion.RegisterBlocked);
        (int m, int n, int k) = (197, 384, 1536);
        int units = device.Info.ComputeUnits;
        GemmVersion version = device.Info.IsGpu ? KernelTransformerOps.Fp32GemmForComputeUnits(m, n, units) : GemmVersion.RegisterBlocked;
        int splits = device.Info.IsGpu && version == GemmVersion.RegisterBlocked ? KernelTransformerOps.Fp32SplitForComputeUnits(m, n, k, units).Splits : 1;

        Assert.Equal((version, splits), chosen.GemmPlanFor(m, n, k));
        Assert.Equal((GemmVersion.RegisterBlocked, 1), named.GemmPlanFor(m, n, k));
        if (device.Info.IsGpu && units >= 100)
        {
            Assert.True(splits > 1, $"{units} units: batch 1's fc2 should split");
        }

        float[] x = TestData.Random(m * k, 101), w = TestData.Random(n * k, 102), bias = TestData.Random(n, 103);
        if (backend != TestBackends.Emulator)
        {
            GemmKernelTests.Expect(x, w, bias, null, m, n, k, Activation.None, TensorCoreGemmTests.Run(chosen, x, w, bias, null, m, n, k, Activation.None), $"{backend} chosen");
        }
    }

    /// <summary>`bench --op gemm` says which kernel ran and into how many parts k was split (1 off GPUs).</summary>
    [Fact]
    public void Bench_json_says_the_gemm_and_its_parts()
    {
        (int exit, string output, string error) = CliHarness.Run("bench", "--op", "gemm", "--shape", "m=19,k=150,n=23", "--device", "emulator", "--json");
        Assert.True(exit == 0, error);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.StartsWith("RegisterBlocked", json.RootElement.GetProperty("variant").GetString());
        Assert.Equal(1, json.RootElement.GetProperty("splits").GetInt32());
    }

    private KernelTransformerOps Ops(string backend, SplitKPlan split)
    {
        var ops = (KernelTransformerOps)devices.Ops(backend, GemmVersion.RegisterBlocked);
        ops.ForcedFp32Split = split;
        return ops;
    }

    /// <summary>Against the cpu backend's GEMM, where only the order of the fp32 sums may differ.</summary>
    private void ExpectCpu(float[] x, float[] w, float[]? bias, float[]? residual, int m, int n, int k, Activation activation, float[] y, string what) =>
        TensorCoreGemmTests.ExpectWithinSumOrder(TensorCoreGemmTests.Run(devices.Ops(TestBackends.Cpu), x, w, bias, residual, m, n, k, activation), x, w, bias, m, n, k, y, $"{what}, against cpu");
}
