using GpuViT.Kernels.Cuda;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Kernels;

/// <summary>
/// The library kernels that keep their accumulators in register arrays: the arrays are declared,
/// the loops that index them are unrolled, the long loops around them are not (unrolled, they made
/// GemmRegisterBlocked 4× slower on PoCL), and NVRTC keeps every array in registers.
/// </summary>
public sealed class LibraryRegisterArrayTests
{
    /// <summary>
    /// The kernels with register arrays, at both architectures. A register array that NVRTC cannot
    /// keep in registers (an index not constant after unrolling) lands in local memory, which the
    /// cubin shows as a stack frame. Register counts themselves move with the compiler's version;
    /// `gpuvit kernels --resources` reports them.
    /// </summary>
    public static TheoryData<string, string> KernelsWithRegisterArrays => new()
    {
        { "GemmRegisterBlocked", "sm_80" }, { "GemmRegisterBlocked", "sm_90" },
        { "PatchEmbedTiled", "sm_80" }, { "PatchEmbedTiled", "sm_90" },
        { "AttentionFused", "sm_80" }, { "AttentionFused", "sm_90" },
        { "RnnStepUnsharedStreaming", "sm_80" }, { "RnnStepUnsharedStreaming", "sm_90" },
        { "RnnStepUnsharedOneImage", "sm_80" }, { "RnnStepUnsharedOneImage", "sm_90" },
        { "RnnReadoutUnits", "sm_80" }, { "RnnReadoutUnits", "sm_90" },
        { "GemmMmaTf32", "sm_80" }, { "GemmMmaTf32", "sm_90" },
        { "GemmMmaBf16", "sm_80" }, { "GemmMmaBf16", "sm_90" },
    };

    [Theory]
    [MemberData(nameof(KernelsWithRegisterArrays))]
    public void Register_arrays_stay_in_registers_nvrtc(string name, string architecture)
    {
        RuntimeRequirement.Nvrtc();
        KernelResources resources = CubinResources.Read(Nvrtc.CompileToCubin(AllKernels.Get(name), architecture), name);

        Assert.Equal(0, resources.StackBytes);
    }

    [Fact]
    public void Micro_tiles_are_register_arrays_whose_loops_are_unrolled_and_the_k_slice_loops_are_not()
    {
        foreach (string name in new[] { "GemmRegisterBlocked", "PatchEmbedTiled" })
        {
            KernelDescriptor kernel = AllKernels.Get(name);
            foreach (string source in new[] { kernel.OpenCLSource, kernel.CudaSource })
            {
                Assert.Contains("float c[16 /* MicroTile * MicroTile */] = { 0 };", source);
                Assert.Contains("OuterProductAdd(c, a, b", source);
                Assert.True(MarkedForUnrolling(source, "for (int r = 0; r < 4 /* Size */; r++)"), name);
                Assert.True(MarkedForUnrolling(source, "for (int s = 0; s < 4 /* Size */; s++)"), name);
                Assert.True(LeftRolled(source, "for (int i = 0; i < 16 /* " + (name == "PatchEmbedTiled" ? "TileK" : "BlockK") + " */; i++)"), name);
            }
        }

        string gemm = AllKernels.Get("GemmRegisterBlocked").OpenCLSource;
        Assert.True(LeftRolled(gemm, "for (int pass = 0; pass < 64 /* BlockTile */; pass += 16 /* BlockThreads */)"));
    }

    [Fact]
    public void Attention_and_the_streaming_step_index_their_arrays_from_unrolled_loops()
    {
        string attention = AllKernels.Get("AttentionFused").CudaSource;
        Assert.Contains("float acc[4 /* ColumnsPerLane */] = { 0 };", attention);
        Assert.True(MarkedForUnrolling(attention, "for (int part = 1; part < 4 /* ColumnsPerLane */; part++)"));

        string streaming = AllKernels.Get("RnnStepUnsharedStreaming").CudaSource;
        Assert.Contains("float sums[16 /* ChannelsPerThread * ImagesPerThread */] = { 0 };", streaming);
        Assert.Contains("__device__ void OuterProductAdd(float* c, float* a, float* b)", streaming);
        Assert.True(MarkedForUnrolling(streaming, "for (int s = 0; s < 4 /* Size */; s++)"));
        Assert.True(MarkedForUnrolling(streaming, "for (int i = 0; i < 4 /* ChannelsPerThread */; i++)"));
    }

    /// <summary>Whether every occurrence of the loop header (there must be one) has '#pragma unroll' on the line before it.</summary>
    private static bool MarkedForUnrolling(string source, string loopHeader) => UnrollMarks(source, loopHeader).All(marked => marked);

    /// <summary>Whether no occurrence of the loop header (there must be one) has '#pragma unroll' on the line before it.</summary>
    private static bool LeftRolled(string source, string loopHeader) => !UnrollMarks(source, loopHeader).Any(marked => marked);

    private static bool[] UnrollMarks(string source, string loopHeader)
    {
        string[] lines = source.Split('\n');
        bool[] marks = [.. Enumerable.Range(1, lines.Length - 1).Where(i => lines[i].Trim() == loopHeader).Select(i => lines[i - 1].Trim() == "#pragma unroll")];
        Assert.True(marks.Length > 0, "no loop '" + loopHeader + "' in the source");
        return marks;
    }
}
