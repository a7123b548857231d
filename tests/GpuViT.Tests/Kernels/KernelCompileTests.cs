using GpuViT.Kernels.Cuda;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Kernels;

/// <summary>Every generated kernel's OpenCL C built by the OpenCL runtime here (PoCL).</summary>
public sealed class OpenCLKernelBuildTests
{
    public static TheoryData<string> Kernels => AllKernels.Names;

    [Theory]
    [MemberData(nameof(Kernels))]
    public void OpenCL_builds_every_kernel(string name)
    {
        using var device = RuntimeRequirement.OpenCL();

        // A failure throws KernelBuildException, whose message is the kernel name and the full build log.
        device.Prepare(AllKernels.Get(name));

        Assert.Equal(new KernelBuildStatistics(CompiledFromSource: 1, LoadedFromCache: 0, RejectedCacheEntries: 0), device.KernelBuilds);
    }
}

/// <summary>Every generated kernel's CUDA C compiled by NVRTC to cubin for Ampere and Hopper; no GPU needed.</summary>
public sealed class NvrtcKernelBuildTests
{
    public static TheoryData<string, string> KernelsAndArchitectures
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (KernelDescriptor kernel in AllKernels.Descriptors)
            {
                data.Add(kernel.Name, "sm_80");
                data.Add(kernel.Name, "sm_90");
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(KernelsAndArchitectures))]
    public void Nvrtc_compiles_every_kernel_to_cubin(string name, string architecture)
    {
        RuntimeRequirement.Nvrtc();

        byte[] cubin = Nvrtc.CompileToCubin(AllKernels.Get(name), architecture);

        Assert.Equal(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F' }, cubin[..4]);
    }
}

/// <summary>What the generated sources promise: entry points, address spaces, readable names.</summary>
public sealed class GeneratedSourceTests
{
    public static TheoryData<string> Kernels => AllKernels.Names;

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Sources_have_the_entry_point_and_explicit_address_spaces(string name)
    {
        KernelDescriptor kernel = AllKernels.Get(name);

        Assert.Contains($"__kernel void {name}(", kernel.OpenCLSource);
        Assert.Contains($"extern \"C\" __global__ void {name}(", kernel.CudaSource);
        Assert.DoesNotContain("generic", kernel.OpenCLSource);
        foreach (KernelParameter parameter in kernel.Parameters.Where(p => p.Kind == ParameterKind.Buffer))
        {
            string element = parameter.ElementType switch
            {
                ElementType.Float => "float",
                ElementType.Int => "int",
                ElementType.Half => "half",
                ElementType.BFloat16 => "ushort",
                _ => "uint",
            };
            string constness = parameter.Access == BufferAccess.ReadOnly ? "const " : "";
            Assert.Contains($"__global {constness}{element}* {parameter.Name}", kernel.OpenCLSource);
        }
    }

    [Fact]
    public void Shared_memory_and_barriers_are_described()
    {
        KernelDescriptor tiled = AllKernels.Get("GemmTiled");
        KernelDescriptor blocked = AllKernels.Get("GemmRegisterBlocked");

        Assert.Equal((16 * 16 + 16 * 17) * sizeof(float), tiled.SharedMemoryBytes);
        Assert.True(tiled.UsesBarrier);
        Assert.Contains("__local float xTile[256];", tiled.OpenCLSource);
        Assert.Contains("__shared__ float xTile[256];", tiled.CudaSource);
        Assert.Equal(2 * 16 * 65 * sizeof(float), blocked.SharedMemoryBytes);
        Assert.False(AllKernels.Get("GemmNaive").UsesBarrier);
        Assert.False(AllKernels.Get("Add").UsesBarrier);
        Assert.Equal(0, AllKernels.Get("Add").SharedMemoryBytes);
    }

    [Fact]
    public void Translation_keeps_names_comments_and_one_statement_per_line()
    {
        string source = AllKernels.Get("GemmTiled").OpenCLSource;

        Assert.Contains("int localColumn = (int)get_local_id(0);\n", source);
        Assert.Contains("// Stored transposed", source);
        Assert.Contains("16 /* Tile */", source);
    }

    [Fact]
    public void Language_constructs_map_to_their_C_forms()
    {
        KernelDescriptor every = AllKernels.Get("EveryConstruct");
        KernelDescriptor histogram = AllKernels.Get("Histogram");

        Assert.Contains("int negate)", every.OpenCLSource); // bool arguments travel as int
        Assert.Contains("fmod(v, 0.75f)", every.OpenCLSource);
        Assert.Contains("fmodf(v, 0.75f)", every.CudaSource);
        Assert.Contains("unsigned int u = bits[i];", every.CudaSource);
        Assert.Contains("float Clamp(float value, float low, float high);", every.OpenCLSource);
        Assert.Contains("__device__ float Twice(float value)", every.CudaSource);
        Assert.Contains("gv_atomic_add_local_float(&localSums[bin], value)", histogram.OpenCLSource);
        Assert.Contains("atomic_add(&localCounts[bin], 1)", histogram.OpenCLSource);
        Assert.Contains("atomicAdd(&sums[lane], localSums[lane])", histogram.CudaSource);
    }

    [Fact]
    public void Registry_lists_library_and_test_kernels()
    {
        string[] names = KernelRegistry.All.Select(k => k.Name).ToArray();

        Assert.Subset(names.ToHashSet(), new[] { "Add", "Gelu", "RowSoftmax", "GemmNaive", "GemmTiled", "GemmRegisterBlocked", "BatchedGemmTiled", "EveryConstruct" }.ToHashSet());
    }
}
