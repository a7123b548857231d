using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;

namespace GpuViT.Kernels.Generator;

/// <summary>
/// One intrinsic: a member of a kernel-language class (<see cref="Intrinsics.Classes"/>) and what
/// it is in OpenCL C and in CUDA C. <paramref name="Member"/> is the member's C# signature, as in
/// "Min(int, int)" or "Add(ref float, float)", or a property's name.
/// </summary>
internal sealed record Intrinsic(string Class, string Member, string OpenCL, string Cuda)
{
    /// <summary>
    /// A group rendezvous (warp operations, matrix multiply-accumulate): every thread of the group
    /// reaches it together, so a kernel using it runs on the emulator's barrier runner.
    /// </summary>
    public bool Collective { get; init; }

    /// <summary>It works on whole warps of 32 threads (shuffles, MMA): a kernel using it needs groups of a multiple of 32.</summary>
    public bool WholeWarps { get; init; }

    /// <summary>32-bit words per thread of group-local scratch the OpenCL spelling needs ({scratch}).</summary>
    public int OpenCLScratchWords { get; init; }

    /// <summary>C definitions (gv_* helpers) emitted once before a program's functions when it uses this intrinsic.</summary>
    public string OpenCLPrelude { get; init; } = string.Empty;

    /// <summary>As <see cref="OpenCLPrelude"/>, for CUDA C.</summary>
    public string CudaPrelude { get; init; } = string.Empty;

    /// <summary>The oldest CUDA compute capability that has it (80 for sm_80); 0 for any.</summary>
    public int MinimumComputeCapability { get; init; }
}

/// <summary>
/// Every intrinsic of the kernel language with its OpenCL C and CUDA C spelling: the one place
/// where an intrinsic is added. The translator looks each intrinsic call and thread index up
/// here (a member of an intrinsic class that is missing is GV0021, never a guess), the dialects
/// emit these spellings, and the C names in them are reserved so that no C# name shadows them.
/// </summary>
internal static class Intrinsics
{
    /// <summary>In a thread index: the dimension (OpenCL 0, 1, 2; CUDA x, y, z).</summary>
    public const string Dimension = "{d}";

    /// <summary>In a call template: the translated C# arguments, comma-separated.</summary>
    public const string Arguments = "{args}";

    /// <summary>In an OpenCL spelling: the group-local scratch (a __local uint*), see <see cref="Intrinsic.OpenCLScratchWords"/>.</summary>
    public const string Scratch = "{scratch}";

    /// <summary>The C name of the hidden scratch parameter of OpenCL kernels and device functions that need it.</summary>
    public const string ScratchName = "gv_scratch";

    /// <summary>In an OpenCL atomic: the address space of the target element (global or local).</summary>
    public const string Space = "{space}";

    /// <summary>The kernel-language classes whose members are all intrinsics.</summary>
    public static readonly string[] Classes = { "KernelMath", "KernelThread", "Group", "Atomic", "Warp", "Mma", "Async" };

    /// <summary>Group.Shared: the address space of a group-shared array (and, in OpenCL, of pointers to one).</summary>
    public static readonly Intrinsic GroupShared = new("Group", "Shared<T>(int)", "__local", "__shared__");

    /// <summary>Atomic.Add on a float; OpenCL 1.2 has none, so the prelude defines one per address space.</summary>
    public static readonly Intrinsic FloatAtomicAdd = new("Atomic", "Add(ref float, float)", "gv_atomic_add_{space}_float", "atomicAdd");

    public static readonly IReadOnlyList<Intrinsic> All = new[]
    {
        // KernelMath: the C function called with the C# arguments.
        new Intrinsic("KernelMath", "Exp(float)", "exp", "expf"),
        new Intrinsic("KernelMath", "Log(float)", "log", "logf"),
        new Intrinsic("KernelMath", "Sqrt(float)", "sqrt", "sqrtf"),
        new Intrinsic("KernelMath", "Rsqrt(float)", "rsqrt", "rsqrtf"),
        new Intrinsic("KernelMath", "Tanh(float)", "tanh", "tanhf"),
        new Intrinsic("KernelMath", "Erf(float)", "erf", "erff"),
        new Intrinsic("KernelMath", "Pow(float, float)", "pow", "powf"),
        new Intrinsic("KernelMath", "Abs(float)", "fabs", "fabsf"),
        // abs(int) returns uint in OpenCL C; the cast keeps C#'s int result.
        new Intrinsic("KernelMath", "Abs(int)", "(int)abs", "abs"),
        new Intrinsic("KernelMath", "Min(float, float)", "fmin", "fminf"),
        new Intrinsic("KernelMath", "Min(int, int)", "min", "min"),
        new Intrinsic("KernelMath", "Min(uint, uint)", "min", "min"),
        new Intrinsic("KernelMath", "Max(float, float)", "fmax", "fmaxf"),
        new Intrinsic("KernelMath", "Max(int, int)", "max", "max"),
        new Intrinsic("KernelMath", "Max(uint, uint)", "max", "max"),
        new Intrinsic("KernelMath", "Fma(float, float, float)", "fma", "fmaf"),
        new Intrinsic("KernelMath", "Floor(float)", "floor", "floorf"),
        new Intrinsic("KernelMath", "Ceiling(float)", "ceil", "ceilf"),

        // KernelThread: one coordinate of an index or size, as an expression the translator casts to int.
        new Intrinsic("KernelThread", "Global", "get_global_id({d})", "(blockIdx.{d} * blockDim.{d} + threadIdx.{d})"),
        new Intrinsic("KernelThread", "Local", "get_local_id({d})", "threadIdx.{d}"),
        new Intrinsic("KernelThread", "Group", "get_group_id({d})", "blockIdx.{d}"),
        new Intrinsic("KernelThread", "GroupSize", "get_local_size({d})", "blockDim.{d}"),
        new Intrinsic("KernelThread", "GroupCount", "get_num_groups({d})", "gridDim.{d}"),
        new Intrinsic("KernelThread", "GlobalSize", "get_global_size({d})", "(gridDim.{d} * blockDim.{d})"),

        // Group.Barrier: the statement.
        new Intrinsic("Group", "Barrier()", "barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)", "__syncthreads()"),
        GroupShared,

        // Atomic.Add: the C function called with the element's address and the value.
        FloatAtomicAdd,
        new Intrinsic("Atomic", "Add(ref int, int)", "atomic_add", "atomicAdd"),
        new Intrinsic("Atomic", "Add(ref uint, uint)", "atomic_add", "atomicAdd"),

        // KernelThread.Lane and .Warp: the linear local index modulo and divided by 32, as int expressions.
        new Intrinsic("KernelThread", "Lane", WarpIntrinsics.OpenCLLane, WarpIntrinsics.CudaLane),
        new Intrinsic("KernelThread", "Warp", WarpIntrinsics.OpenCLWarp, WarpIntrinsics.CudaWarp),

        // Warp: group-collective (OpenCL exchanges through the scratch between barriers); helpers in WarpIntrinsics.
        Warp("Shuffle(float, int)", WarpIntrinsics.OpenCL("shuffle", "float"), WarpIntrinsics.CudaShuffle),
        Warp("Shuffle(int, int)", WarpIntrinsics.OpenCL("shuffle", "int"), WarpIntrinsics.CudaShuffle),
        Warp("Shuffle(uint, int)", WarpIntrinsics.OpenCL("shuffle", "uint"), WarpIntrinsics.CudaShuffle),
        Warp("ShuffleXor(float, int)", WarpIntrinsics.OpenCL("shuffle_xor", "float"), WarpIntrinsics.CudaShuffleXor),
        Warp("ShuffleXor(int, int)", WarpIntrinsics.OpenCL("shuffle_xor", "int"), WarpIntrinsics.CudaShuffleXor),
        Warp("ShuffleXor(uint, int)", WarpIntrinsics.OpenCL("shuffle_xor", "uint"), WarpIntrinsics.CudaShuffleXor),
        Warp("ShuffleDown(float, int)", WarpIntrinsics.OpenCL("shuffle_down", "float"), WarpIntrinsics.CudaShuffleDown),
        Warp("ShuffleDown(int, int)", WarpIntrinsics.OpenCL("shuffle_down", "int"), WarpIntrinsics.CudaShuffleDown),
        Warp("ShuffleDown(uint, int)", WarpIntrinsics.OpenCL("shuffle_down", "uint"), WarpIntrinsics.CudaShuffleDown),
        Warp("Sum(float)", WarpIntrinsics.OpenCL("sum", "float"), WarpIntrinsics.Cuda("sum", "float")),
        Warp("Sum(int)", WarpIntrinsics.OpenCL("sum", "int"), WarpIntrinsics.Cuda("sum", "int")),
        Warp("Max(float)", WarpIntrinsics.OpenCL("max", "float"), WarpIntrinsics.Cuda("max", "float")),
        Warp("Min(float)", WarpIntrinsics.OpenCL("min", "float"), WarpIntrinsics.Cuda("min", "float")),

        // Group copies: statements of a kernel body (GV0026); helpers in GroupCopyIntrinsics.
        GroupCopy("CopyAsync(GpuViT.Kernels.SharedArray<float>, int, GpuViT.Kernels.ReadOnlyView<float>, int, int)", GroupCopyIntrinsics.CopyAsync),
        GroupCopy("CopyAsync(GpuViT.Kernels.SharedArray<float>, int, GpuViT.Kernels.ReadWriteView<float>, int, int)", GroupCopyIntrinsics.CopyAsync),
        GroupCopy("CopyAsync(GpuViT.Kernels.SharedArray<int>, int, GpuViT.Kernels.ReadOnlyView<int>, int, int)", GroupCopyIntrinsics.CopyAsync),
        GroupCopy("CopyAsync(GpuViT.Kernels.SharedArray<int>, int, GpuViT.Kernels.ReadWriteView<int>, int, int)", GroupCopyIntrinsics.CopyAsync),
        GroupCopy("CopyAsync(GpuViT.Kernels.SharedArray<uint>, int, GpuViT.Kernels.ReadOnlyView<uint>, int, int)", GroupCopyIntrinsics.CopyAsync),
        GroupCopy("CopyAsync(GpuViT.Kernels.SharedArray<uint>, int, GpuViT.Kernels.ReadWriteView<uint>, int, int)", GroupCopyIntrinsics.CopyAsync),
        GroupCopy("WaitCopies()", GroupCopyIntrinsics.WaitCopies),

        // Async: per-thread asynchronous copies of 16 bytes, calls of the helpers in AsyncCopyIntrinsics.
        AsyncCopy("Copy4(GpuViT.Kernels.SharedArray<float>, int, GpuViT.Kernels.ReadOnlyView<float>, int, int)", AsyncCopyIntrinsics.Copy4, AsyncCopyIntrinsics.Copy4),
        AsyncCopy("Copy8(GpuViT.Kernels.SharedArray<uint>, int, GpuViT.Kernels.ReadOnlyView<GpuViT.Kernels.BFloat16>, int, int)", AsyncCopyIntrinsics.Copy8BFloat16OpenCL, AsyncCopyIntrinsics.Copy8Cuda),
        AsyncCopy("Copy8(GpuViT.Kernels.SharedArray<uint>, int, GpuViT.Kernels.ReadOnlyView<System.Half>, int, int)", AsyncCopyIntrinsics.Copy8HalfOpenCL, AsyncCopyIntrinsics.Copy8Cuda),
        AsyncCopy("Commit()", AsyncCopyIntrinsics.Commit, AsyncCopyIntrinsics.Commit),
        AsyncCopy("Wait(int)", AsyncCopyIntrinsics.Wait, AsyncCopyIntrinsics.Wait),

        // Mma: tensor-core matrix multiply-accumulate (MmaIntrinsics.cs): the PTX instruction in
        // CUDA, the same tile in software through group-local scratch in OpenCL.
        new Intrinsic("Mma", "M16N8K8Tf32(System.Span<float>, int, System.Span<float>, int, System.Span<float>, int)",
            MmaIntrinsics.OpenCLCall(MmaIntrinsics.Tf32Name), MmaIntrinsics.Tf32Name)
        {
            Collective = true, WholeWarps = true, OpenCLScratchWords = MmaIntrinsics.ScratchWords, MinimumComputeCapability = 80,
            OpenCLPrelude = MmaIntrinsics.Tf32OpenCL, CudaPrelude = MmaIntrinsics.Tf32Cuda,
        },
        new Intrinsic("Mma", "M16N8K16Bf16(System.Span<float>, int, System.Span<uint>, int, System.Span<uint>, int)",
            MmaIntrinsics.OpenCLCall(MmaIntrinsics.Bf16Name), MmaIntrinsics.Bf16Name)
        {
            Collective = true, WholeWarps = true, OpenCLScratchWords = MmaIntrinsics.ScratchWords, MinimumComputeCapability = 80,
            OpenCLPrelude = MmaIntrinsics.Bf16OpenCL, CudaPrelude = MmaIntrinsics.Bf16Cuda,
        },
        new Intrinsic("Mma", "M16N8K16F16(System.Span<float>, int, System.Span<uint>, int, System.Span<uint>, int)",
            MmaIntrinsics.OpenCLCall(MmaIntrinsics.F16Name), MmaIntrinsics.F16Name)
        {
            Collective = true, WholeWarps = true, OpenCLScratchWords = MmaIntrinsics.ScratchWords, MinimumComputeCapability = 80,
            OpenCLPrelude = MmaIntrinsics.F16OpenCL, CudaPrelude = MmaIntrinsics.F16Cuda,
        },
        new Intrinsic("Mma", "PackBf16(float, float)", MmaIntrinsics.PackBf16Name, MmaIntrinsics.PackBf16Name)
        {
            OpenCLPrelude = MmaIntrinsics.PackBf16(cuda: false), CudaPrelude = MmaIntrinsics.PackBf16(cuda: true),
        },
        new Intrinsic("Mma", "PackHalf(float, float)", MmaIntrinsics.PackHalfName, MmaIntrinsics.PackHalfName)
        {
            OpenCLPrelude = MmaIntrinsics.PackHalf(cuda: false), CudaPrelude = MmaIntrinsics.PackHalf(cuda: true),
        },
    };

    private static Intrinsic Warp(string member, string openCL, string cuda) => new("Warp", member, openCL, cuda)
    {
        Collective = true,
        WholeWarps = true,
        OpenCLScratchWords = 1,
        OpenCLPrelude = WarpIntrinsics.OpenCLPrelude,
        CudaPrelude = WarpIntrinsics.CudaPrelude,
    };

    private static Intrinsic GroupCopy(string member, string spelling) => new("Group", member, spelling, spelling)
    {
        Collective = true,
        OpenCLPrelude = GroupCopyIntrinsics.OpenCLPrelude,
        CudaPrelude = GroupCopyIntrinsics.CudaPrelude,
    };

    private static Intrinsic AsyncCopy(string member, string openCL, string cuda) => new("Async", member, openCL, cuda)
    {
        OpenCLPrelude = AsyncCopyIntrinsics.OpenCLPrelude,
        CudaPrelude = AsyncCopyIntrinsics.CudaPrelude,
    };

    private static readonly Regex CIdentifier = new(@"(?<![\w.])[A-Za-z_]\w*");

    /// <summary>Whether the symbol is a member of a kernel-language intrinsic class.</summary>
    public static bool IsIntrinsicMember(ISymbol member) =>
        member.ContainingType is { } type && Classes.Contains(type.Name) && KernelTypes.IsLanguageType(type, type.Name);

    /// <summary>The table's entry for a member of an intrinsic class, or null if it has none yet.</summary>
    public static Intrinsic? Find(ISymbol member)
    {
        string signature = Signature(member);
        return All.FirstOrDefault(i => i.Class == member.ContainingType.Name && i.Member == signature);
    }

    /// <summary>"KernelMath.Min(int, int)": how a member is named in the table and in GV0021.</summary>
    public static string Name(ISymbol member) => member.ContainingType.Name + "." + Signature(member);

    /// <summary>OpenCL's address space for an atomic's target: local when it is in group-shared memory, else global.</summary>
    public static string AddressSpace(bool shared) => shared ? "local" : "global";

    /// <summary>A spelling with its {space} placeholder filled in for a target in group-shared or global memory.</summary>
    public static string InSpace(string spelling, bool shared) => spelling.Replace(Space, AddressSpace(shared));

    /// <summary>Every C identifier the spellings use (not the fields after a '.'), for the reserved names.</summary>
    public static IEnumerable<string> CNames() =>
        All.SelectMany(i => new[] { i.OpenCL, i.Cuda })
            .SelectMany(spelling => new[] { false, true }.Select(shared => InSpace(spelling, shared).Replace(Dimension, "0").Replace(Arguments, string.Empty).Replace(Scratch, string.Empty)))
            .SelectMany(spelling => CIdentifier.Matches(spelling).Cast<Match>().Select(m => m.Value))
            .Distinct();

    private static string Signature(ISymbol member)
    {
        if (member is not IMethodSymbol method)
        {
            return member.Name;
        }

        string typeParameters = method.IsGenericMethod ? "<" + string.Join(", ", method.TypeParameters.Select(t => t.Name)) + ">" : string.Empty;
        IEnumerable<string> parameters = method.Parameters.Select(p => (p.RefKind == RefKind.Ref ? "ref " : string.Empty) + p.Type.ToDisplayString());
        return method.Name + typeParameters + "(" + string.Join(", ", parameters) + ")";
    }
}
