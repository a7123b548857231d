using GpuViT.Kernels.Library;
using GpuViT.Kernels.Ops;
using GpuViT.Tests.Runtime;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The tensor-core linear layers (Library/MmaGemm.cs) against a plain double loop, within bounds
/// derived from each precision: a float-exact result passes them, a wrong layout fails them.
/// </summary>
public sealed class MmaGemmTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [KernelBackendData("tf32", 1, 1, 1, Activation.None, false, false)]
    [KernelBackendData("tf32", 70, 40, 45, Activation.Gelu, true, true)]
    [KernelBackendData("tf32", 64, 32, 64, Activation.GeluTanh, true, false)]
    [KernelBackendData("bf16", 1, 1, 1, Activation.None, false, false)]
    [KernelBackendData("bf16", 70, 40, 45, Activation.Gelu, true, true)]
    [KernelBackendData("bf16", 64, 32, 64, Activation.GeluTanh, true, false)]
    [InlineData(TestBackends.OpenCL, "tf32", 130, 65, 100, Activation.Gelu, true, true)]
    [InlineData(TestBackends.OpenCL, "bf16", 130, 65, 100, Activation.None, true, false)]
    public void Linear_layer_is_within_its_precision_bound_of_the_exact_result(
        string backend, string precision, int m, int n, int k, Activation activation, bool hasBias, bool hasResidual)
    {
        (float[] x, float[] w, float[] bias, float[] residual) = Inputs(m, n, k);
        float[] y = Run(backend, precision, x, w, bias, residual, m, n, k, activation, hasBias, hasResidual);

        double inputRoundoff = precision == "tf32" ? Math.ScaleB(1, -11) : Math.ScaleB(1, -8);
        double worstRight = 0, worstWrong = 0;
        for (int row = 0; row < m; row++)
        {
            for (int column = 0; column < n; column++)
            {
                (double value, double bound) = Reference(x, w, bias, residual, row, column, n, k, activation, hasBias, hasResidual, inputRoundoff, transposedW: false);
                worstRight = Math.Max(worstRight, Math.Abs(y[row * n + column] - value) / bound);
                Assert.True(Math.Abs(y[row * n + column] - value) <= bound, $"Y[{row}, {column}] = {y[row * n + column]}, exact {value}, bound {bound}");

                // W read as k × n instead of n × k: what a layout mistake computes.
                (double wrong, _) = Reference(x, w, bias, residual, row, column, n, k, activation, hasBias, hasResidual, inputRoundoff, transposedW: true);
                worstWrong = Math.Max(worstWrong, Math.Abs(y[row * n + column] - wrong) / bound);
            }
        }

        // The bound separates: a layout mistake is many bounds away (one output cannot show it).
        if (m * n > 1)
        {
            Assert.True(worstWrong > 10, $"a transposed W would be within {worstWrong} bounds");
        }
    }

    [Fact]
    public void The_emulator_and_OpenCL_agree_bit_for_bit()
    {
        const int m = 70, n = 40, k = 45;
        (float[] x, float[] w, float[] bias, float[] residual) = Inputs(m, n, k);
        foreach (string precision in new[] { "tf32", "bf16" })
        {
            float[] emulated = Run(TestBackends.Emulator, precision, x, w, bias, residual, m, n, k, Activation.None, true, true);
            float[] openCL = Run(TestBackends.OpenCL, precision, x, w, bias, residual, m, n, k, Activation.None, true, true);

            Assert.Equal(emulated, openCL);
        }
    }

    [Theory]
    [KernelBackendData(GemmVersion.MmaTf32, 1e-6)]
    [KernelBackendData(GemmVersion.MmaBf16, 1e-4)]
    public void Kernel_ops_run_the_MMA_versions_close_to_cpu(string backend, GemmVersion version, double maxNmse)
    {
        // NMSE of rounding inputs to u is about 2u²: TF32 2^-21 ≈ 5e-7, BF16 2^-15 ≈ 3e-5.
        const int m = 37, n = 53, k = 29;
        float[] x = TestData.Random(m * k, 1), w = TestData.Random(n * k, 2), b = TestData.Random(n, 3), r = TestData.Random(m * n, 4);
        float[] Gemm(TransformerOps ops)
        {
            using var xs = ops.Device.Upload<float>(x);
            using var ws = ops.Device.Upload<float>(w);
            using var bs = ops.Device.Upload<float>(b);
            using var rs = ops.Device.Upload<float>(r);
            using var y = ops.Device.Allocate<float>(m * n);
            ops.Gemm(xs, ws, bs.View(), rs.View(), y, m, n, k, Activation.Gelu);
            return y.ToArray();
        }

        Close.Nmse(Gemm(devices.Ops(TestBackends.Cpu)), Gemm(devices.Ops(backend, version)), maxNmse, $"{backend} {version}");
    }

    private float[] Run(string backend, string precision, float[] x, float[] w, float[] bias, float[] residual, int m, int n, int k,
        Activation activation, bool hasBias, bool hasResidual)
    {
        var y = new float[m * n];
        KernelDescriptor kernel = precision == "tf32" ? Catalog.GemmMmaTf32 : Catalog.GemmMmaBf16;
        devices.Launch(backend, kernel, Int3.Size(TestDevices.Groups(n, MmaGemm.BlockN), TestDevices.Groups(m, MmaGemm.BlockM)), Int3.Size(MmaGemm.Threads),
            x, w, bias, residual, y, m, n, k, hasBias, (int)activation, hasResidual);
        return y;
    }

    private static (float[] X, float[] W, float[] Bias, float[] Residual) Inputs(int m, int n, int k) =>
        (TestData.Random(m * k, 31, -2f, 2f), TestData.Random(n * k, 32), TestData.Random(n, 33), TestData.Random(m * n, 34));

    /// <summary>
    /// Y[row, column] from doubles, and its bound: inputs rounded with relative error u (TF32 2^-11,
    /// BF16 2^-8) make each product off by (2u + u²)·|x·w|; fp32 sums over K add (K + 2)·2^-24 of
    /// Σ|x·w|; GELU's slope is at most 1.13; the epilogue's float arithmetic a few ulps of its values.
    /// </summary>
    private static (double Value, double Bound) Reference(
        float[] x, float[] w, float[] bias, float[] residual, int row, int column, int n, int k, Activation activation, bool hasBias, bool hasResidual,
        double inputRoundoff, bool transposedW)
    {
        double sum = 0, magnitudes = 0;
        for (int i = 0; i < k; i++)
        {
            double product = (double)x[row * k + i] * (transposedW ? w[i * n + column] : w[column * k + i]);
            sum += product;
            magnitudes += Math.Abs(product);
        }

        double pre = sum + (hasBias ? bias[column] : 0);
        double preError = (2 * inputRoundoff + inputRoundoff * inputRoundoff + (k + 2) * Math.ScaleB(1, -24)) * magnitudes + Math.ScaleB(Math.Abs(pre), -22);
        double value = activation switch
        {
            Activation.Gelu => Activations.GeluExact((float)pre),
            Activation.GeluTanh => Activations.GeluTanhApproximation((float)pre),
            _ => pre,
        };
        double bound = (activation == Activation.None ? 1 : 1.13) * preError + Math.ScaleB(Math.Abs(value), -21);
        if (hasResidual)
        {
            value += residual[row * n + column];
            bound += Math.ScaleB(Math.Abs(value), -21);
        }

        return (value, bound + 1e-30);
    }
}
