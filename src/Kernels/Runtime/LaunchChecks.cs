namespace GpuViT.Kernels.Runtime;

/// <summary>One checked kernel argument: a view of a buffer of the launching device, or a scalar.</summary>
/// <param name="Buffer">For buffer parameters: the buffer.</param>
/// <param name="Offset">For buffer parameters: the view's first element.</param>
/// <param name="Length">For buffer parameters: the view's elements.</param>
/// <param name="Scalar">For scalar parameters: an int, uint or float; bools arrive as int 0 or 1.</param>
public readonly record struct KernelArgument(KernelParameter Parameter, DeviceBuffer? Buffer, long Offset, long Length, object? Scalar);

/// <summary>Everything a launch is checked for before anything is queued, the same on every backend.</summary>
internal static class LaunchChecks
{
    public static void Shape(DeviceInfo info, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize)
    {
        string? problem = null;
        if (groupCount.X < 1 || groupCount.Y < 1 || groupCount.Z < 1 || groupSize.X < 1 || groupSize.Y < 1 || groupSize.Z < 1)
        {
            problem = "every group count and group size must be at least 1 (Int3.Size(x) fills the rest with 1)";
        }
        else if (groupSize.Product > info.MaxGroupSize)
        {
            problem = $"{groupSize.Product} threads per group; {info.Id} allows at most {info.MaxGroupSize}";
        }
        else if (groupSize.X > info.MaxGroupDimensions.X || groupSize.Y > info.MaxGroupDimensions.Y || groupSize.Z > info.MaxGroupDimensions.Z)
        {
            problem = $"group size {groupSize} exceeds {info.Id}'s per-dimension limit {info.MaxGroupDimensions}";
        }
        else if (groupCount.X > info.MaxGroupCount.X || groupCount.Y > info.MaxGroupCount.Y || groupCount.Z > info.MaxGroupCount.Z)
        {
            problem = $"group count {groupCount} exceeds {info.Id}'s limit {info.MaxGroupCount}";
        }
        else if ((long)groupCount.X * groupSize.X > int.MaxValue || (long)groupCount.Y * groupSize.Y > int.MaxValue
            || (long)groupCount.Z * groupSize.Z > int.MaxValue)
        {
            problem = "the global size overflows the kernels' int indices";
        }
        else if (kernel.WholeWarpProblem(groupSize) is { } warps)
        {
            problem = warps;
        }
        else if (kernel.SharedMemoryBytes + OpenCLScratchBytes(info, kernel, groupSize) is var local && local > info.SharedMemoryBytesPerGroup)
        {
            long scratch = local - kernel.SharedMemoryBytes;
            problem = $"the kernel uses {kernel.SharedMemoryBytes} bytes of group-shared memory" +
                (scratch > 0 ? $" and {scratch} bytes of local scratch for its warp operations at {groupSize.Product} threads" : string.Empty) +
                $"; {info.Id} has {info.SharedMemoryBytesPerGroup} per group";
        }

        if (problem is not null)
        {
            throw new KernelLaunchException(kernel.Name, groupCount, groupSize, info.Id, problem);
        }
    }

    /// <summary>The hidden __local scratch an OpenCL launch adds for the kernel's warp operations (0 elsewhere).</summary>
    private static long OpenCLScratchBytes(DeviceInfo info, KernelDescriptor kernel, Int3 groupSize) =>
        info.Kind == DeviceKind.OpenCL ? kernel.OpenCLScratchBytes(groupSize) : 0;

    public static KernelArgument[] Arguments(Device device, KernelDescriptor kernel, object[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (arguments.Length != kernel.Parameters.Count)
        {
            throw new ArgumentException(
                $"kernel '{kernel.Name}' takes {kernel.Parameters.Count} arguments ({string.Join(", ", kernel.Parameters)}), got {arguments.Length}",
                nameof(arguments));
        }

        var bound = new KernelArgument[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            KernelParameter parameter = kernel.Parameters[i];
            object? argument = arguments[i];
            bound[i] = parameter.Kind == ParameterKind.Buffer
                ? Buffer(device, kernel, parameter, argument)
                : Scalar(kernel, parameter, argument);
        }

        return bound;
    }

    private static KernelArgument Buffer(Device device, KernelDescriptor kernel, KernelParameter parameter, object? argument)
    {
        IDeviceView view = argument switch
        {
            IDeviceView v => v,
            _ => throw Mismatch(kernel, parameter, argument, $"a {ElementTypeNames.Of(parameter.ElementType)} DeviceBuffer or DeviceView"),
        };

        if (view.Buffer.ElementType != parameter.ElementType)
        {
            throw Mismatch(kernel, parameter, argument, $"a {ElementTypeNames.Of(parameter.ElementType)} buffer");
        }

        if (!ReferenceEquals(view.Buffer.Device, device))
        {
            throw new ArgumentException(
                $"kernel '{kernel.Name}' parameter '{parameter.Name}': the buffer lives on {view.Buffer.Device.Info.Id}, the launch is on {device.Info.Id}",
                parameter.Name);
        }

        view.Buffer.ThrowIfDisposed();
        return new KernelArgument(parameter, view.Buffer, view.Offset, view.Length, null);
    }

    private static KernelArgument Scalar(KernelDescriptor kernel, KernelParameter parameter, object? argument)
    {
        // Each arm boxed as itself: without the casts the switch's type would be float for all.
        object value = (parameter.ElementType, argument) switch
        {
            (ElementType.Int, int v) => (object)v,
            (ElementType.UInt, uint v) => (object)v,
            (ElementType.Float, float v) => (object)v,
            (ElementType.Bool, bool v) => (object)(v ? 1 : 0),
            _ => throw Mismatch(kernel, parameter, argument, $"a {ElementTypeNames.Of(parameter.ElementType)}"),
        };
        return new KernelArgument(parameter, null, 0, 0, value);
    }

    private static ArgumentException Mismatch(KernelDescriptor kernel, KernelParameter parameter, object? argument, string expected) =>
        new($"kernel '{kernel.Name}' parameter '{parameter}' expects {expected}, got {Describe(argument)}", parameter.Name);

    private static string Describe(object? argument) => argument switch
    {
        null => "null",
        DeviceBuffer buffer => buffer.ToString(),
        IDeviceView view => $"a view of {view.Buffer}",
        _ => $"{argument.GetType().Name} {argument}",
    };
}
