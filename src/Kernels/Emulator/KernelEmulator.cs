using GpuViT.Kernels.Emulator;

namespace GpuViT.Kernels;

/// <summary>
/// Runs the C# body of a kernel on the CPU with the semantics of a GPU launch, so that a kernel
/// can be stepped through in a debugger and its results compared with the compiled versions.
/// Meant for correctness on small launches, not for speed.
/// </summary>
/// <remarks>
/// <para>
/// Buffers are bounds-checked: an index outside one fails the launch with a message that names
/// the parameter. Every failure of a kernel thread is rethrown as a
/// <see cref="KernelEmulationException"/> naming the kernel, group and thread; only the first
/// failure of a launch is reported, and the launch stops handing out groups after it. Vector
/// loads and stores (<c>Load4</c>, <c>Store2</c>, ...) are checked against CUDA's alignment too:
/// the view's offset plus the index must be a multiple of the width.
/// </para>
/// <para>
/// <see cref="Group.Shared{T}(int)"/> memory belongs to one group and starts as garbage, as on a
/// GPU: <c>float</c> (and <c>double</c>, <c>Half</c>, <c>BFloat16</c>) elements are NaN, all other element types
/// are filled with 0xCD bytes (an <c>int</c> or <c>uint</c> reads 0xCDCDCDCD), in every group,
/// so a read before a write shows in the results.
/// </para>
/// <para>
/// A kernel whose descriptor says it uses barriers runs each group on real OS threads, one per
/// kernel thread, taking turns from barrier to barrier in local-index order; a group whose
/// threads do not all reach a barrier fails with a barrier-divergence message instead of hanging.
/// A kernel without barriers runs the threads of a group one after another on one OS thread, and
/// the groups in parallel; calling <see cref="Group.Barrier"/> there is an error.
/// </para>
/// <para>
/// The emulator's own frames are marked as non-user code, so with Just My Code a debugger shows
/// the kernel's frame on top, and treats an exception thrown by the kernel as user-unhandled,
/// stopping at the line that threw, in the failing thread.
/// </para>
/// </remarks>
public static class KernelEmulator
{
    /// <summary>The most threads a group may have (CUDA's limit; OpenCL devices allow at least this on GPUs).</summary>
    public const int MaxThreadsPerGroup = 1024;

    /// <summary>Runs <paramref name="kernel"/> on <paramref name="groupCount"/> groups of <paramref name="groupSize"/> threads.</summary>
    /// <param name="arguments">
    /// One per <see cref="KernelDescriptor.Parameters"/> entry: for a buffer, a <c>float[]</c>,
    /// <c>int[]</c>, <c>uint[]</c>, <c>Half[]</c> or <c>BFloat16[]</c> (wrapped in a view named after the parameter) or a view of the
    /// parameter's exact type; for a scalar, an <c>int</c>, <c>uint</c>, <c>float</c> or <c>bool</c>.
    /// </param>
    /// <exception cref="ArgumentException">The sizes or arguments do not fit the kernel.</exception>
    /// <exception cref="KernelEmulationException">A kernel thread threw, or a group diverged at a barrier.</exception>
    public static void Launch(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, params object[] arguments)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(arguments);
        CheckSize(groupCount, nameof(groupCount), "group count");
        CheckSize(groupSize, nameof(groupSize), "group size");
        if (groupSize.Product > MaxThreadsPerGroup)
        {
            throw new ArgumentOutOfRangeException(
                nameof(groupSize), groupSize, $"a group has at most {MaxThreadsPerGroup} threads; {groupSize} has {groupSize.Product}");
        }

        if ((long)groupCount.X * groupSize.X > int.MaxValue
            || (long)groupCount.Y * groupSize.Y > int.MaxValue
            || (long)groupCount.Z * groupSize.Z > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(
                nameof(groupCount), groupCount, $"the global size {groupCount} × {groupSize} overflows an int index");
        }

        if (kernel.WholeWarpProblem(groupSize) is { } warps)
        {
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, $"kernel '{kernel.Name}': {warps}");
        }

        var launch = new EmulatedLaunch(kernel, groupCount, groupSize, BindArguments(kernel, arguments));
        if (kernel.UsesBarrier)
        {
            BarrierGroupRunner.Run(launch);
        }
        else
        {
            SequentialGroupRunner.Run(launch);
        }

        launch.ThrowIfFailed();
    }

    private static void CheckSize(Int3 size, string parameter, string what)
    {
        if (size.X < 1 || size.Y < 1 || size.Z < 1)
        {
            throw new ArgumentOutOfRangeException(
                parameter, size, $"every component of the {what} must be at least 1, but it is {size}");
        }
    }

    /// <summary>Checks the arguments against the parameters and wraps arrays in views named after the parameters.</summary>
    private static object[] BindArguments(KernelDescriptor kernel, object?[] arguments)
    {
        IReadOnlyList<KernelParameter> parameters = kernel.Parameters;
        if (arguments.Length != parameters.Count)
        {
            throw new ArgumentException(
                $"kernel '{kernel.Name}' takes {parameters.Count} arguments ({string.Join(", ", parameters)}), " +
                $"but {arguments.Length} were given",
                nameof(arguments));
        }

        var bound = new object[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            KernelParameter parameter = parameters[i];
            object? argument = arguments[i];
            bound[i] = Bind(parameter, argument) ?? throw new ArgumentException(
                $"argument {i} of kernel '{kernel.Name}' is for parameter '{parameter}' and must be " +
                $"{Expected(parameter)}, but it is {TypeNames.OfValue(argument)}",
                parameter.Name);
        }

        return bound;
    }

    /// <returns>The argument as the kernel body casts it, or null if it does not fit.</returns>
    private static object? Bind(KernelParameter parameter, object? argument)
    {
        if (parameter.Kind == ParameterKind.Scalar)
        {
            return (parameter.ElementType, argument) switch
            {
                (ElementType.Float, float) or (ElementType.Int, int) or (ElementType.UInt, uint) or (ElementType.Bool, bool) => argument,
                _ => null,
            };
        }

        return parameter.ElementType switch
        {
            ElementType.Float => BindBuffer<float>(parameter, argument),
            ElementType.Int => BindBuffer<int>(parameter, argument),
            ElementType.UInt => BindBuffer<uint>(parameter, argument),
            ElementType.Half => BindBuffer<Half>(parameter, argument),
            ElementType.BFloat16 => BindBuffer<BFloat16>(parameter, argument),
            _ => null,
        };
    }

    private static object? BindBuffer<T>(KernelParameter parameter, object? argument) where T : unmanaged =>
        (parameter.Access, argument) switch
        {
            (BufferAccess.ReadOnly, T[] array) => new ReadOnlyView<T>(array, parameter.Name),
            (BufferAccess.ReadOnly, ReadOnlyView<T>) => argument,
            (BufferAccess.ReadWrite, T[] array) => new ReadWriteView<T>(array, parameter.Name),
            (BufferAccess.ReadWrite, ReadWriteView<T>) => argument,
            _ => null,
        };

    private static string Expected(KernelParameter parameter)
    {
        string element = ElementTypeNames.Of(parameter.ElementType);
        if (parameter.Kind == ParameterKind.Scalar)
        {
            return $"a boxed {element}";
        }

        if (parameter.ElementType == ElementType.Bool || parameter.Access == BufferAccess.None)
        {
            return "nothing: the descriptor's buffer parameter is malformed (bool element or no access)";
        }

        string view = parameter.Access == BufferAccess.ReadOnly ? "ReadOnlyView" : "ReadWriteView";
        return $"a {element}[] or a {view}<{element}>";
    }
}
