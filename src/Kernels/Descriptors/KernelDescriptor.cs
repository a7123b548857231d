namespace GpuViT.Kernels;

/// <summary>The generated source dialects.</summary>
public enum KernelDialect
{
    /// <summary>OpenCL C 1.2 with explicit __global/__local address spaces.</summary>
    OpenCL,

    /// <summary>CUDA C (extern "C" __global__), compiled at run time by NVRTC.</summary>
    Cuda,
}

/// <summary>Whether a parameter is a buffer view or a scalar value.</summary>
public enum ParameterKind
{
    Buffer,
    Scalar,
}

/// <summary>The element type of a buffer or the type of a scalar.</summary>
public enum ElementType
{
    Float,
    Int,
    UInt,

    /// <summary>Scalars only; passed to devices as a 32-bit int (0 or 1), since OpenCL forbids bool kernel arguments.</summary>
    Bool,

    /// <summary>Buffers only: IEEE 754 binary16 (<see cref="System.Half"/>), 2 bytes an element, read and written as float.</summary>
    Half,

    /// <summary>Buffers only: bfloat16 (<see cref="Kernels.BFloat16"/>), 2 bytes an element, read and written as float.</summary>
    BFloat16,
}

/// <summary>How kernels spell the element types.</summary>
internal static class ElementTypeNames
{
    /// <summary>"float", "int", "uint", "Half", "BFloat16" or "bool".</summary>
    public static string Of(ElementType type) => type switch
    {
        ElementType.Float => "float",
        ElementType.Int => "int",
        ElementType.UInt => "uint",
        ElementType.Half => "Half",
        ElementType.BFloat16 => "BFloat16",
        _ => "bool",
    };
}

/// <summary>How a kernel may touch a buffer.</summary>
public enum BufferAccess
{
    /// <summary>Scalars.</summary>
    None,
    ReadOnly,
    ReadWrite,
}

/// <summary>One kernel parameter after the <see cref="KernelThread"/>, in declaration order.</summary>
public sealed record KernelParameter(string Name, ParameterKind Kind, ElementType ElementType, BufferAccess Access)
{
    /// <summary>C#-like spelling, e.g. <c>ReadOnlyView&lt;float&gt; a</c> or <c>int n</c>.</summary>
    public override string ToString()
    {
        string element = ElementTypeNames.Of(ElementType);
        return Kind == ParameterKind.Scalar
            ? $"{element} {Name}"
            : $"{(Access == BufferAccess.ReadOnly ? "ReadOnlyView" : "ReadWriteView")}<{element}> {Name}";
    }
}

/// <summary>Runs the C# body of a kernel for one thread; arguments follow <see cref="KernelDescriptor.Parameters"/>.</summary>
public delegate void KernelBody(KernelThread thread, object[] arguments);

/// <summary>
/// Everything the build generated for one kernel: its signature, shared-memory use, the OpenCL C
/// and CUDA C sources, and a way to run its C# body (for the emulator).
/// </summary>
public sealed class KernelDescriptor(
    string name,
    string declaringType,
    IReadOnlyList<KernelParameter> parameters,
    int sharedMemoryBytes,
    bool usesBarrier,
    string openCLSource,
    string cudaSource,
    KernelBody body)
{
    /// <summary>The C# method name, which is also the entry point in both generated sources.</summary>
    public string Name { get; } = name;

    /// <summary>The full name of the C# type that declares the kernel.</summary>
    public string DeclaringType { get; } = declaringType;

    public IReadOnlyList<KernelParameter> Parameters { get; } = parameters;

    /// <summary>Bytes of group-shared memory each group uses (static, from Group.Shared sizes).</summary>
    public int SharedMemoryBytes { get; } = sharedMemoryBytes;

    /// <summary>Whether the kernel, or a device function it calls, uses Group.Barrier.</summary>
    public bool UsesBarrier { get; } = usesBarrier;

    /// <summary>
    /// 32-bit words of group-local scratch per thread that the OpenCL program's warp operations
    /// need (0: none). The OpenCL kernel takes it as a hidden last __local parameter, sized at launch.
    /// </summary>
    public int OpenCLScratchWordsPerThread { get; init; }

    /// <summary>The bytes of that scratch an OpenCL launch of groups of <paramref name="groupSize"/> passes.</summary>
    public long OpenCLScratchBytes(Int3 groupSize) => (long)OpenCLScratchWordsPerThread * sizeof(uint) * groupSize.Product;

    /// <summary>Why a group of <paramref name="groupSize"/> cannot run this kernel's warp operations, or null when it can.</summary>
    public string? WholeWarpProblem(Int3 groupSize) => UsesWarp && groupSize.Product % Warp.Size != 0
        ? $"the kernel uses warp operations, which need a multiple of {Warp.Size} threads per group; {groupSize} has {groupSize.Product}"
        : null;

    /// <summary>The oldest CUDA compute capability the kernel runs on, as 80 for 8.0 (tensor-core MMA, cp.async); 0 for any.</summary>
    public int MinimumComputeCapability { get; init; }

    /// <summary>
    /// Whether the kernel, or a device function it calls, uses warp operations (Warp.*, and the Mma multiply-accumulates): its groups
    /// must then have a multiple of <see cref="Warp.Size"/> threads, which every launch checks.
    /// </summary>
    public bool UsesWarp { get; init; }

    public string OpenCLSource { get; } = openCLSource;

    public string CudaSource { get; } = cudaSource;

    /// <summary>The C# body, called once per thread by the emulator.</summary>
    public KernelBody Body { get; } = body;

    public string Source(KernelDialect dialect) => dialect switch
    {
        KernelDialect.OpenCL => OpenCLSource,
        KernelDialect.Cuda => CudaSource,
        _ => throw new ArgumentOutOfRangeException(nameof(dialect), dialect, "unknown kernel dialect"),
    };

    public override string ToString() => $"{Name}({string.Join(", ", Parameters)})";
}
