using Microsoft.CodeAnalysis;

namespace GpuViT.Kernels.Generator;

/// <summary>
/// Every GV diagnostic. Each names what was found and says what is allowed instead; the ids are
/// stable (docs/kernel-language.md lists them).
/// </summary>
internal static class Diagnostics
{
    private const string Category = "GpuViT.Kernels";

    public static readonly DiagnosticDescriptor KernelSignature = Error(
        "GV0001", "Invalid kernel signature",
        "Kernel '{0}' {1}; a kernel is a public or internal 'static void' method, not generic, in a non-generic type");

    public static readonly DiagnosticDescriptor ThreadParameter = Error(
        "GV0002", "Kernel needs a KernelThread first parameter",
        "Kernel '{0}' must take 'KernelThread' as its first parameter, and only there");

    public static readonly DiagnosticDescriptor ParameterType = Error(
        "GV0003", "Unsupported parameter",
        "Parameter '{0}' of '{1}' {2}; allowed: ReadOnlyView<T> or ReadWriteView<T> of float, int, uint, Half or BFloat16, and scalars int, uint, float or bool (device functions may also take SharedArray<T>, register arrays Span<T>, Float2 and Float4)");

    public static readonly DiagnosticDescriptor UnsupportedType = Error(
        "GV0004", "Unsupported type",
        "Type '{0}' is not supported in kernels{1}; use float, int, uint or bool");

    public static readonly DiagnosticDescriptor Allocation = Error(
        "GV0005", "Allocation in a kernel",
        "'{0}' allocates, which kernels cannot do; use Group.Shared<T>(N) for memory shared by a group, or pass a buffer as a parameter");

    public static readonly DiagnosticDescriptor StringUse = Error(
        "GV0006", "String in a kernel",
        "Strings are not supported in kernels ('{0}'); kernels compute on float, int, uint and bool only");

    public static readonly DiagnosticDescriptor ExceptionUse = Error(
        "GV0007", "Exception handling in a kernel",
        "'{0}' is not supported: GPUs have no exceptions; check the condition and return early, or write a status value to a buffer");

    public static readonly DiagnosticDescriptor LinqOrLambda = Error(
        "GV0008", "LINQ, lambdas or delegates in a kernel",
        "'{0}' is not supported: kernels cannot use LINQ, lambdas, delegates or local functions; write a loop, or a static [DeviceFunction] method");

    public static readonly DiagnosticDescriptor InstanceMember = Error(
        "GV0009", "Instance member in a kernel",
        "'{0}' is an instance member or 'this'; kernels and device functions are static and can use only their parameters, locals and constants");

    public static readonly DiagnosticDescriptor Recursion = Error(
        "GV0010", "Recursion",
        "Device function '{0}' is recursive ({1}); GPUs (OpenCL in particular) have no call stack for recursion; write it as a loop");

    public static readonly DiagnosticDescriptor CapturedState = Error(
        "GV0011", "Captured state",
        "'{0}' is a {1} outside the kernel; kernels can read only parameters, locals and const values; pass it as a parameter or make it const");

    public static readonly DiagnosticDescriptor UnsupportedCall = Error(
        "GV0012", "Unsupported call or member",
        "'{0}' cannot be used in a kernel{1}; allowed calls: static [DeviceFunction] methods, KernelMath.*, Group.Barrier, Group.Shared and Atomic.Add");

    public static readonly DiagnosticDescriptor UnsupportedStatement = Error(
        "GV0013", "Unsupported statement",
        "A '{0}' statement is not supported in kernels{1}; allowed: locals, expressions, if/else, for, while, do, break, continue, return and blocks");

    public static readonly DiagnosticDescriptor UnsupportedExpression = Error(
        "GV0014", "Unsupported expression",
        "'{0}' is not supported in kernels{1}; allowed: arithmetic, comparison, logical and bitwise operators, assignment, ++/--, ?:, casts, indexing, calls");

    public static readonly DiagnosticDescriptor SharedMemory = Error(
        "GV0015", "Invalid group-shared array",
        "Group.Shared {0}; declare it at the top level of a kernel body as 'var name = Group.Shared<float>(N);' with N a positive compile-time constant, and T float, int, uint, Half or BFloat16");

    public static readonly DiagnosticDescriptor DuplicateName = Error(
        "GV0016", "Duplicate kernel or device function name",
        "'{0}' is declared by both {1} and {2}; kernel and device function names must be unique in an assembly, since they become C function names");

    public static readonly DiagnosticDescriptor AtomicTarget = Error(
        "GV0017", "Invalid atomic target",
        "Atomic.Add needs an element of a ReadWriteView or a SharedArray, as in 'Atomic.Add(ref sum[i], x)'; found '{0}'");

    public static readonly DiagnosticDescriptor ThreadUse = Error(
        "GV0018", "Invalid use of KernelThread",
        "'{0}' uses the thread index as a value; read one coordinate, e.g. 'thread.Global.X', 'thread.Local.Y', 'thread.Group.Z', 'thread.GroupSize.X', 'thread.GroupCount.X' or 'thread.GlobalSize.X'");

    public static readonly DiagnosticDescriptor DeviceFunctionSignature = Error(
        "GV0019", "Invalid device function signature",
        "Device function '{0}' {1}; a device function is a static, non-generic method returning void, float, int, uint, bool, Float2 or Float4");

    public static readonly DiagnosticDescriptor Barrier = Error(
        "GV0020", "Invalid barrier",
        "Group.Barrier() must be a statement of its own, not part of an expression ('{0}')");

    public static readonly DiagnosticDescriptor UnmappedIntrinsic = Error(
        "GV0021", "Intrinsic without an OpenCL C/CUDA C mapping",
        "'{0}' has no OpenCL C/CUDA C mapping yet; add its spellings to the intrinsic table in src/Kernels/Generator/Intrinsics.cs");

    public static readonly DiagnosticDescriptor RegisterArray = Error(
        "GV0022", "Invalid register array",
        "Register array {0}; declare it as 'Span<float> name = stackalloc float[N];' with N a compile-time constant from 1 to 1024 and T float, int or uint, then only index it or pass it to a device function's Span<T> parameter");
    public static readonly DiagnosticDescriptor VectorAccess = Error(
        "GV0023", "Invalid vector access",
        "'{0}' {1}; Float2 and Float4 are made with 'new Float4(x, y, z, w)' or Load2/Load4, read by component (v.X, v.Y, v.Z, v.W) and written with Store2/Store4, on views and shared arrays of float only");
    public static readonly DiagnosticDescriptor Storage16 = Error(
        "GV0024", "16-bit float used other than as storage",
        "'{0}' {1}; Half and BFloat16 are storage only: load with '(float)view[i]', compute in float, and store with 'view[i] = (Half)x;' or 'view[i] = (BFloat16)x;'");

    public static readonly DiagnosticDescriptor WarpOperation = Error(
        "GV0025", "Invalid warp operation",
        "'{0}' {1}; every thread of the group must reach every warp operation together, so call it unconditionally into a local first (float s = Warp.Sum(v);) and use the local there");

    public static readonly DiagnosticDescriptor GroupCopy = Error(
        "GV0026", "Invalid group copy",
        "'{0}' {1}; Group.CopyAsync(...) and Group.WaitCopies() are statements of their own in a kernel body, reached by every thread of the group");

    public static readonly DiagnosticDescriptor MmaFragment = Error(
        "GV0027", "Invalid matrix multiply-accumulate fragment",
        "In '{0}', {1}; a fragment is a register array ('Span<float> acc = stackalloc float[N];', or a device function's Span<T> parameter), of float for D and TF32, of uint packed by Mma.PackBf16 or Mma.PackHalf for 16-bit A and B, with D 4, A 4 and B 2 elements from its index");

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
            helpLinkUri: "docs/kernel-language.md#" + id.ToLowerInvariant());

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "GV0001" => KernelSignature,
        "GV0002" => ThreadParameter,
        "GV0003" => ParameterType,
        "GV0004" => UnsupportedType,
        "GV0005" => Allocation,
        "GV0006" => StringUse,
        "GV0007" => ExceptionUse,
        "GV0008" => LinqOrLambda,
        "GV0009" => InstanceMember,
        "GV0010" => Recursion,
        "GV0011" => CapturedState,
        "GV0012" => UnsupportedCall,
        "GV0013" => UnsupportedStatement,
        "GV0014" => UnsupportedExpression,
        "GV0015" => SharedMemory,
        "GV0016" => DuplicateName,
        "GV0017" => AtomicTarget,
        "GV0018" => ThreadUse,
        "GV0019" => DeviceFunctionSignature,
        "GV0020" => Barrier,
        "GV0021" => UnmappedIntrinsic,
        "GV0022" => RegisterArray,
        "GV0023" => VectorAccess,
        "GV0024" => Storage16,
        "GV0025" => WarpOperation,
        "GV0026" => GroupCopy,
        "GV0027" => MmaFragment,
        _ => throw new System.ArgumentException("unknown diagnostic id " + id),
    };
}
