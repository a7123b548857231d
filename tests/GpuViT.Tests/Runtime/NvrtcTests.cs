using GpuViT.Kernels.Cuda;

namespace GpuViT.Tests.Runtime;

/// <summary>NVRTC on hand-written CUDA C: cubins and PTX for the GPUs the cuda backend targets, and compile errors.</summary>
public sealed class NvrtcTests
{
    private static readonly KernelDescriptor VectorAdd = Kernel(
        "VectorAdd",
        """
        extern "C" __global__ void VectorAdd(const float* a, const float* b, float* sum, int n)
        {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) sum[i] = a[i] + b[i];
        }
        """);

    private static readonly KernelDescriptor GroupSum = Kernel(
        "GroupSum",
        """
        extern "C" __global__ void GroupSum(const float* input, float* sums)
        {
            __shared__ float partial[64];
            int lane = threadIdx.x;
            partial[lane] = input[blockIdx.x * blockDim.x + lane];
            __syncthreads();
            for (int stride = 32; stride > 0; stride >>= 1)
            {
                if (lane < stride) partial[lane] += partial[lane + stride];
                __syncthreads();
            }
            if (lane == 0) sums[blockIdx.x] = partial[0];
        }
        """);

    [Fact]
    public void Version_IsAtLeast11_2()
    {
        RuntimeRequirement.Nvrtc();

        Assert.True(Nvrtc.IsAvailable);
        Assert.True(Nvrtc.Version.CompareTo((11, 2)) >= 0, $"NVRTC {Nvrtc.Version}");
    }

    [Theory]
    [InlineData("sm_80")]
    [InlineData("sm_90")]
    public void CompileToCubin_GivesAnElfImage(string architecture)
    {
        RuntimeRequirement.Nvrtc();

        foreach (KernelDescriptor kernel in new[] { VectorAdd, GroupSum })
        {
            byte[] cubin = Nvrtc.CompileToCubin(kernel, architecture);

            Assert.True(cubin.Length > 4, $"{kernel.Name}: empty cubin");
            Assert.Equal(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }, cubin[..4]);
        }
    }

    [Fact]
    public void CompileToPtx_HasTheUnmangledEntryForTheVirtualArchitecture()
    {
        RuntimeRequirement.Nvrtc();

        string ptx = Nvrtc.CompileToPtx(VectorAdd, "sm_80");

        Assert.Contains(".entry VectorAdd", ptx);
        Assert.Contains(".target sm_80", ptx);
    }

    [Fact]
    public void SyntaxError_ThrowsKernelBuildExceptionWithTheLog()
    {
        RuntimeRequirement.Nvrtc();
        KernelDescriptor broken = Kernel(
            "Broken",
            """
            extern "C" __global__ void Broken(float* data)
            {
                data[0] = 1.0f
            }
            """);

        KernelBuildException e = Assert.Throws<KernelBuildException>(() => Nvrtc.CompileToCubin(broken, "sm_80"));

        Assert.Equal("Broken", e.KernelName);
        Assert.Equal(KernelDialect.Cuda, e.Dialect);
        Assert.Contains("Broken.cu", e.Log);
        Assert.Contains("error", e.Log);
        Assert.StartsWith("building kernel 'Broken' for cuda failed:\n", e.Message);
        Assert.Contains(e.Log, e.Message);
    }

    [Theory]
    [InlineData("ampere")]
    [InlineData("compute_80")]
    [InlineData("80")]
    public void CompileToCubin_RejectsAnythingButARealArchitecture(string architecture)
    {
        RuntimeRequirement.Nvrtc();

        ArgumentException e = Assert.Throws<ArgumentException>(() => Nvrtc.CompileToCubin(VectorAdd, architecture));

        Assert.Equal("architecture", e.ParamName);
    }

    private static KernelDescriptor Kernel(string name, string cudaSource) =>
        new(name, typeof(NvrtcTests).FullName!, [], sharedMemoryBytes: 0, usesBarrier: false,
            openCLSource: "", cudaSource, (_, _) => throw new NotSupportedException("these tests compile CUDA only"));
}
