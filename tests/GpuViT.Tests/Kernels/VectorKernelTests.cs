using GpuViT.Tests.Runtime;
using T = GpuViT.Tests.Generated.KernelCatalog;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The vector kernels (<see cref="VectorKernels"/>) on OpenCL (PoCL), CUDA where present and the
/// emulator, against plain loops; NVRTC compiles them for sm_80 and sm_90 with every kernel
/// (NvrtcKernelBuildTests).
/// </summary>
public sealed class VectorKernelTests(TestDevices devices) : IClassFixture<TestDevices>
{
    [Theory]
    [KernelBackendData]
    public void ScaleQuads_matches_a_loop(string backend)
    {
        int quads = 75;
        float[] x = TestData.Random(4 * quads, 21), y = new float[4 * quads];
        devices.Launch(backend, T.ScaleQuads, Int3.Size(TestDevices.Groups(quads, 32)), Int3.Size(32), x, y, quads, 1.5f);

        // CUDA may fuse the multiply and the add into one fma: a rounding apart.
        float[] expected = x.Select((v, i) => v * 1.5f + i % 4).ToArray();
        Close.Elementwise(expected, y, 1e-6f, 1e-6f, "quads");
    }

    [Theory]
    [KernelBackendData]
    public void SwapPairs_matches_a_loop(string backend)
    {
        int pairs = 50;
        float[] x = TestData.Random(2 * pairs, 22), y = new float[3 * pairs];
        devices.Launch(backend, T.SwapPairs, Int3.Size(TestDevices.Groups(pairs, 32)), Int3.Size(32), x, y, pairs);

        float[] expected = new float[3 * pairs];
        for (int p = 0; p < pairs; p++)
        {
            expected[2 * p] = x[2 * p + 1];
            expected[2 * p + 1] = x[2 * p];
            expected[2 * pairs + p] = x[2 * p] + x[2 * p + 1];
        }

        Assert.Equal(expected, y);
    }

    [Theory]
    [KernelBackendData]
    public void ReverseQuadsThroughShared_reverses_each_group(string backend)
    {
        int groups = 3, perGroup = 4 * VectorKernels.ReverseGroup;
        float[] x = TestData.Random(groups * perGroup, 23), y = new float[groups * perGroup];
        devices.Launch(backend, T.ReverseQuadsThroughShared, Int3.Size(groups), Int3.Size(VectorKernels.ReverseGroup), x, y);

        float[] expected = Enumerable.Range(0, groups).SelectMany(g => x.Skip(g * perGroup).Take(perGroup).Reverse()).ToArray();
        Assert.Equal(expected, y);
    }

    /// <summary>A view that starts 4 elements into its buffer: the offset reaches the vector accesses on every backend.</summary>
    [Theory]
    [KernelBackendData]
    public void ScaleQuads_reads_and_writes_views_at_an_aligned_offset(string backend)
    {
        Device device = devices.Device(backend);
        int quads = 8;
        float[] x = TestData.Random(4 * quads + 8, 24);
        using DeviceBuffer<float> input = device.Upload<float>(x);
        using DeviceBuffer<float> output = device.Upload<float>(new float[x.Length]);

        device.Launch(T.ScaleQuads, Int3.Size(1), Int3.Size(quads), input.View(4, 4 * quads), output.View(8, 4 * quads), quads, 2f);

        float[] y = new float[x.Length];
        output.Download(y);
        float[] expected = new float[x.Length];
        for (int i = 0; i < 4 * quads; i++)
        {
            expected[8 + i] = x[4 + i] * 2f + i % 4;
        }

        Close.Elementwise(expected, y, 1e-6f, 1e-6f, "quads at an offset");
    }

    [Fact]
    public void Vector_accesses_map_to_their_C_forms()
    {
        KernelDescriptor scale = AllKernels.Get("ScaleQuads");
        KernelDescriptor reverse = AllKernels.Get("ReverseQuadsThroughShared");

        Assert.Contains("float4 v = vload4(0, x + (4 * q));", scale.OpenCLSource);
        Assert.Contains("float4 v = *(const float4*)(x + (4 * q));", scale.CudaSource);
        Assert.Contains("__local float tile[64] __attribute__((aligned(16)));", reverse.OpenCLSource);
        Assert.Contains("__shared__ __align__(16) float tile[64];", reverse.CudaSource);
        Assert.Equal(64 * sizeof(float), reverse.SharedMemoryBytes);
    }
}
