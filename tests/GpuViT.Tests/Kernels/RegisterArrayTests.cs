using GpuViT.Tests.Generator;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>Kernels with register arrays: per-thread arrays of compile-time size, also passed to device functions.</summary>
public static class RegisterArrayKernels
{
    public const int Width = 4;

    /// <summary>y[row, j] = Σ_k x[row, k] · w[k, j] for j &lt; Width: Width accumulators in a register array.</summary>
    [Kernel]
    public static void RowTimesMatrix(KernelThread thread, ReadOnlyView<float> x, ReadOnlyView<float> w, ReadWriteView<float> y, int rows, int depth)
    {
        int row = thread.Global.X;
        if (row >= rows)
        {
            return;
        }

        Span<float> acc = stackalloc float[Width];
        Span<int> counts = stackalloc int[2];
        for (int k = 0; k < depth; k++)
        {
            AccumulateRow(acc, x[row * depth + k], w, k * Width);
            counts[k % 2]++;
        }

        for (int j = 0; j < Width; j++)
        {
            y[row * Width + j] = acc[j] + (float)(counts[0] - counts[1]);
        }
    }

    /// <summary>y[i] = r[which[i]] from a register array holding 0, 1, 2, 3: an index past it is a misuse.</summary>
    [Kernel]
    public static void PickRegister(KernelThread thread, ReadOnlyView<int> which, ReadWriteView<float> y)
    {
        int i = thread.Global.X;
        Span<float> r = stackalloc float[Width];
        for (int j = 0; j < Width; j++)
        {
            r[j] = (float)j;
        }

        y[i] = r[which[i]];
    }

    [DeviceFunction]
    public static void AccumulateRow(Span<float> acc, float value, ReadOnlyView<float> w, int offset)
    {
        for (int j = 0; j < Width; j++)
        {
            acc[j] = KernelMath.Fma(value, w[offset + j], acc[j]);
        }
    }
}

public sealed class RegisterArrayTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [KernelBackendData]
    public void RowTimesMatrix_is_bit_exact_against_plain_loops(string backend)
    {
        foreach ((int rows, int depth) in new[] { (1, 1), (37, 5), (200, 16) })
        {
            float[] x = TestData.Random(rows * depth, 21), w = TestData.Random(depth * RegisterArrayKernels.Width, 22);
            float[] y = new float[rows * RegisterArrayKernels.Width];
            devices.Launch(backend, T.RowTimesMatrix, Int3.Size(TestDevices.Groups(rows, 32)), Int3.Size(32), x, w, y, rows, depth);

            var expected = new float[y.Length];
            for (int row = 0; row < rows; row++)
            {
                for (int j = 0; j < RegisterArrayKernels.Width; j++)
                {
                    float acc = 0f;
                    for (int k = 0; k < depth; k++)
                    {
                        acc = MathF.FusedMultiplyAdd(x[row * depth + k], w[k * RegisterArrayKernels.Width + j], acc);
                    }

                    expected[row * RegisterArrayKernels.Width + j] = acc + (float)(depth % 2);
                }
            }

            Assert.Equal(expected, y);
        }
    }

    [Fact]
    public void An_index_outside_a_register_array_fails_on_the_emulator_naming_the_kernel_and_the_thread()
    {
        var error = Assert.Throws<KernelEmulationException>(() =>
            KernelEmulator.Launch(T.PickRegister, Int3.Size(1), Int3.Size(4), new[] { 3, 0, 4, 1 }, new float[4]));

        Assert.StartsWith("kernel 'PickRegister' failed in group (0,0,0), thread (2,0,0)", error.Message);
        Assert.IsType<IndexOutOfRangeException>(error.InnerException);
    }

    [Fact]
    public void Register_arrays_are_zeroed_C_arrays_and_constant_loops_are_unrolled()
    {
        foreach (string source in new[] { T.RowTimesMatrix.OpenCLSource, T.RowTimesMatrix.CudaSource })
        {
            Assert.Contains("float acc[4 /* Width */] = { 0 };", source);
            Assert.Contains("int counts[2] = { 0 };", source);
            Assert.Contains("void AccumulateRow(float* acc, float value, ", source);
            Assert.Contains("#pragma unroll\n    for (int j = 0; j < 4 /* Width */; j++)", source);

            // depth is not a constant: that loop is left to the compiler.
            Assert.DoesNotContain("#pragma unroll\n    for (int k = 0; k < depth; k++)", source);
        }
    }

    [Theory]
    [InlineData("Span<float> r = stackalloc float[8]; for (int k = 0; k < 8; k++) { r[k] = a[k]; } b[i] = r[3];", true)]
    [InlineData("Span<float> r = stackalloc float[8]; for (int k = 0; k < 4; k++) { First(r, 2 * k); } b[i] = r[3];", true)]
    [InlineData("float s = 0f; for (int k = 0; k < 8; k++) { s += a[k]; } b[i] = s;", false)]
    [InlineData("Span<float> r = stackalloc float[8]; for (int k = 0; k < 8; k++) { r[0] += a[k]; } b[i] = r[0];", false)]
    [InlineData("Span<float> r = stackalloc float[8]; for (int k = 0; k < n; k++) { r[k % 8] += a[k]; } b[i] = r[0];", false)]
    public void Constant_loops_are_marked_for_unrolling_only_where_they_index_a_register_array(string body, bool unrolled)
    {
        GeneratorHarness.Result result = GeneratorHarness.Run(GeneratorHarness.Kernel(
            body, members: "[DeviceFunction] public static void First(Span<float> r, int at) { r[at] = 1f; }"));

        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Equal(unrolled, result.KernelSource("openCLSource").Contains("#pragma unroll\n    for (int k", StringComparison.Ordinal));
    }

    [Fact]
    public void A_loop_that_assigns_its_counter_is_not_marked_for_unrolling()
    {
        GeneratorHarness.Result result = GeneratorHarness.Run(GeneratorHarness.Kernel(
            "Span<float> r = stackalloc float[8]; for (int k = 0; k < 8; k++) { r[k] = a[k]; if (r[k] > 1f) { k += 2; } } b[i] = r[0];"));

        Assert.Empty(result.GeneratorDiagnostics);
        Assert.DoesNotContain("#pragma unroll", result.KernelSource("openCLSource"));
    }
}
