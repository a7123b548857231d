using GpuViT.Tests.Ops;
using GpuViT.Tests.Runtime;
using K = GpuViT.Kernels.Generated.KernelCatalog;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// Each kernel run on OpenCL (the generated C on PoCL) and on the emulator (the C# body), against
/// a plain C# loop in double precision; the language kernels OpenCL against the emulator. The
/// GEMM kernels have their own tests (GemmKernelTests).
/// </summary>
public sealed class KernelRunTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [KernelBackendData]
    public void Add_matches_reference(string backend)
    {
        foreach (int n in new[] { 1, 97, 1000 })
        {
            float[] a = TestData.Random(n, 1), b = TestData.Random(n, 2), c = new float[n];
            devices.Launch(backend, K.Add, Int3.Size(TestDevices.Groups(n, 64)), Int3.Size(64), a, b, c, n);

            Close.Elementwise(a.Zip(b, (x, y) => x + y).ToArray(), c, 0f, 0f, $"n={n}");
        }
    }

    [Theory]
    [KernelBackendData("Gelu")]
    [KernelBackendData("GeluTanh")]
    public void Gelu_matches_reference(string backend, string kernel)
    {
        int n = 1000;
        float[] x = TestData.Random(n, 3, -6f, 6f), y = new float[n];
        devices.Launch(backend, AllKernels.Get(kernel), Int3.Size(TestDevices.Groups(n, 128)), Int3.Size(128), x, y, n);

        Func<double, double> gelu = kernel == "Gelu"
            ? v => 0.5 * v * (1.0 + KernelMath.Erf((float)(v / Math.Sqrt(2.0))))
            : v => 0.5 * v * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (v + 0.044715 * v * v * v)));
        Close.Elementwise(x.Select(v => (float)gelu(v)).ToArray(), y, 2e-6f, 1e-6f, kernel);
    }

    [Theory]
    [KernelBackendData(5, 197, 64)]
    [KernelBackendData(3, 1, 32)]
    [KernelDeviceData(2, 1000, 256)]
    public void RowSoftmax_matches_reference(string backend, int rows, int cols, int groupSize)
    {
        float[] x = TestData.Random(rows * cols, 5, -8f, 8f), y = new float[rows * cols];
        devices.Launch(backend, K.RowSoftmax, Int3.Size(rows), Int3.Size(groupSize), x, y, rows, cols);

        Close.Elementwise(OpReference.Softmax(x, rows, cols), y, 1e-5f, 1e-7f, "softmax");
    }

    [Theory]
    [KernelBackendData]
    public void Histogram_counts_exactly_with_shared_and_global_atomics(string backend)
    {
        int n = 1000;
        float[] values = TestData.Random(n, 8, 0f, 0.999f);
        var counts = new int[LanguageKernels.Bins];
        var sums = new float[LanguageKernels.Bins];
        devices.Launch(backend, T.Histogram, Int3.Size(TestDevices.Groups(n, LanguageKernels.HistogramGroup)), Int3.Size(LanguageKernels.HistogramGroup), values, counts, sums, n);

        int[] expectedCounts = new int[LanguageKernels.Bins];
        float[] expectedSums = new float[LanguageKernels.Bins];
        foreach (float v in values)
        {
            int bin = Math.Min((int)(v * LanguageKernels.Bins), LanguageKernels.Bins - 1);
            expectedCounts[bin]++;
            expectedSums[bin] += v;
        }

        Assert.Equal(expectedCounts, counts);
        Close.Elementwise(expectedSums, sums, 1e-4f, 1e-4f, "sums");
    }

    [Theory]
    [KernelBackendData]
    public void ThreadIndices_match_the_launch_shape_in_3D(string backend)
    {
        Int3 groupCount = Int3.Size(3, 2, 2), groupSize = Int3.Size(4, 2, 3);
        int threads = (int)(groupCount.Product * groupSize.Product);
        var output = new int[threads * 18];
        devices.Launch(backend, T.ThreadIndices, groupCount, groupSize, output);

        int gx = groupCount.X * groupSize.X, gy = groupCount.Y * groupSize.Y;
        for (int z = 0; z < groupCount.Z * groupSize.Z; z++)
        {
            for (int y = 0; y < gy; y++)
            {
                for (int x = 0; x < gx; x++)
                {
                    int o = ((z * gy + y) * gx + x) * 18;
                    int[] expected =
                    [
                        x, y, z,
                        x % groupSize.X, y % groupSize.Y, z % groupSize.Z,
                        x / groupSize.X, y / groupSize.Y, z / groupSize.Z,
                        groupSize.X, groupSize.Y, groupSize.Z,
                        groupCount.X, groupCount.Y, groupCount.Z,
                        gx, gy, groupCount.Z * groupSize.Z,
                    ];
                    Assert.Equal(expected, output[o..(o + 18)]);
                }
            }
        }
    }

    /// <summary>The translated C must compute what the C# computes: OpenCL against the emulator.</summary>
    [Fact]
    public void EveryConstruct_on_OpenCL_matches_the_emulator()
    {
        int n = 300;
        float[] x = TestData.Random(n, 9, -3f, 3f);
        x[0] = 0f;
        x[1] = -1f;
        x[2] = 1f;
        x[3] = 2.5f;
        int[] k = Enumerable.Range(0, n).Select(i => (i * 7919 % 2001) - 1000).ToArray();
        uint[] bits = Enumerable.Range(0, n).Select(i => (uint)i * 2654435761u).ToArray();
        object[] Arguments(float[] f, int[] ints) => [x, k, bits, f, ints, n, 0.75f, 0x3C3Cu, true];

        float[] fOpenCL = new float[n * 16], fEmulator = new float[n * 16];
        int[] iOpenCL = new int[n * 4], iEmulator = new int[n * 4];
        Int3 groups = Int3.Size(TestDevices.Groups(n, 64)), size = Int3.Size(64);
        devices.Launch(TestBackends.OpenCL, T.EveryConstruct, groups, size, Arguments(fOpenCL, iOpenCL));
        devices.Launch(TestBackends.Emulator, T.EveryConstruct, groups, size, Arguments(fEmulator, iEmulator));

        // Math built-ins may differ by a few ulps between the device library and .NET.
        Close.Elementwise(fEmulator, fOpenCL, 1e-5f, 1e-5f, "floats");
        Assert.Equal(iEmulator, iOpenCL);
    }
}
