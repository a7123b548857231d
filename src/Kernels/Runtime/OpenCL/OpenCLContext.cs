using System.Runtime.InteropServices;
using System.Text;
using static GpuViT.Kernels.Runtime.OpenCL.OpenCLNative;

namespace GpuViT.Kernels.Runtime.OpenCL;

/// <summary>OpenCL device kinds (the cl_device_type bits).</summary>
[Flags]
public enum OpenCLDeviceType : ulong
{
    Default = 1 << 0,
    Cpu = 1 << 1,
    Gpu = 1 << 2,
    Accelerator = 1 << 3,
    Custom = 1 << 4,
}

/// <summary>One OpenCL device, addressed by its platform and device index as <see cref="OpenCLContext.Create"/> takes them.</summary>
public sealed record OpenCLDeviceInfo(
    int PlatformIndex,
    int DeviceIndex,
    string PlatformName,
    string DeviceName,
    OpenCLDeviceType Type,
    string OpenCLCVersion,
    int ComputeUnits,
    long GlobalMemoryBytes,
    long MaxWorkGroupSize);

/// <summary>No OpenCL runtime (ICD loader or platform) is installed; the message says how to install one.</summary>
public sealed class OpenCLUnavailableException : Exception
{
    public OpenCLUnavailableException(string message)
        : base(message)
    {
    }
}

/// <summary>An OpenCL call failed; the message says which call, for which kernel, with what launch shape.</summary>
public sealed class OpenCLException : Exception
{
    public OpenCLException(string message, int errorCode)
        : base(message)
    {
        ErrorCode = errorCode;
    }

    /// <summary>The raw status code, e.g. -54.</summary>
    public int ErrorCode { get; }

    /// <summary>The status name, e.g. CL_INVALID_WORK_GROUP_SIZE.</summary>
    public string ErrorName => OpenCLNative.ErrorName(ErrorCode);
}

/// <summary>
/// One OpenCL device with a context and an in-order queue: builds generated kernels (once per
/// context) and launches them on host arrays. Launches are synchronous and serialized; buffers
/// live for one launch (device-resident tensors are the Models layer's business).
/// </summary>
public sealed unsafe class OpenCLContext : IDisposable
{
    /// <summary>Pins the dialect the generator targets, so a 2.0-only construct fails on every device alike.</summary>
    private const string BuildOptions = "-cl-std=CL1.2";

    private const string InstallHint = "on Debian: apt-get install ocl-icd-libopencl1 pocl-opencl-icd";

    // Every element type a kernel buffer or scalar can have is 32 bits wide.
    private const int ElementBytes = 4;

    private readonly object _gate = new();
    private readonly nint _device; // root devices are not reference counted
    private readonly long _maxWorkGroupSize;
    private readonly OpenCLHandle _context;
    private readonly OpenCLHandle _queue;
    private readonly Dictionary<string, BuiltKernel> _kernels = new(StringComparer.Ordinal);
    private bool _disposed;

    private OpenCLContext(nint platform, nint device)
    {
        _device = device;
        DeviceName = DeviceString(device, CL_DEVICE_NAME);
        _maxWorkGroupSize = (long)DeviceValue<nuint>(device, CL_DEVICE_MAX_WORK_GROUP_SIZE);

        nint* properties = stackalloc nint[] { CL_CONTEXT_PLATFORM, platform, 0 };
        int status;
        _context = new OpenCLHandle(clCreateContext(properties, 1, &device, 0, 0, &status), OpenCLObjectKind.Context);
        try
        {
            Check(status, "clCreateContext");
            _queue = new OpenCLHandle(clCreateCommandQueue(_context.Value, device, 0, &status), OpenCLObjectKind.CommandQueue);
            Check(status, "clCreateCommandQueue");
        }
        catch
        {
            _queue?.Dispose();
            _context.Dispose();
            throw;
        }
    }

    /// <summary>The device's name as its driver reports it.</summary>
    public string DeviceName { get; }

    /// <summary>Every device of every platform; empty when no OpenCL loader or platform is installed.</summary>
    public static IReadOnlyList<OpenCLDeviceInfo> ListDevices()
    {
        nint[]? platforms = TryGetPlatforms(out _);
        if (platforms is null)
        {
            return [];
        }

        var devices = new List<OpenCLDeviceInfo>();
        for (int p = 0; p < platforms.Length; p++)
        {
            string platformName = PlatformString(platforms[p], CL_PLATFORM_NAME);
            nint[] platformDevices = GetDevices(platforms[p]);
            for (int d = 0; d < platformDevices.Length; d++)
            {
                nint device = platformDevices[d];
                devices.Add(new OpenCLDeviceInfo(
                    p,
                    d,
                    platformName,
                    DeviceString(device, CL_DEVICE_NAME),
                    (OpenCLDeviceType)DeviceValue<ulong>(device, CL_DEVICE_TYPE),
                    DeviceString(device, CL_DEVICE_OPENCL_C_VERSION),
                    (int)DeviceValue<uint>(device, CL_DEVICE_MAX_COMPUTE_UNITS),
                    (long)DeviceValue<ulong>(device, CL_DEVICE_GLOBAL_MEM_SIZE),
                    (long)DeviceValue<nuint>(device, CL_DEVICE_MAX_WORK_GROUP_SIZE)));
            }
        }

        return devices;
    }

    /// <summary>Opens device <paramref name="device"/> of platform <paramref name="platform"/> (indices as in <see cref="ListDevices"/>).</summary>
    /// <exception cref="OpenCLUnavailableException">No OpenCL loader, no platform, or a platform without devices.</exception>
    public static OpenCLContext Create(int platform = 0, int device = 0)
    {
        nint[] platforms = TryGetPlatforms(out string why)
            ?? throw new OpenCLUnavailableException($"no OpenCL platform found ({why}); {InstallHint}");
        if (platform < 0 || platform >= platforms.Length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(platform), platform, $"OpenCL platform index out of range: {platforms.Length} platform(s) found");
        }

        nint[] devices = GetDevices(platforms[platform]);
        if (devices.Length == 0)
        {
            throw new OpenCLUnavailableException(
                $"OpenCL platform {platform} ({PlatformString(platforms[platform], CL_PLATFORM_NAME)}) has no devices; {InstallHint}");
        }

        if (device < 0 || device >= devices.Length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(device), device, $"OpenCL device index out of range: platform {platform} has {devices.Length} device(s)");
        }

        return new OpenCLContext(platforms[platform], devices[device]);
    }

    /// <summary>Builds the kernel's OpenCL source for this device, unless this context already has.</summary>
    /// <exception cref="KernelBuildException">The device compiler rejected the source; the message has its log.</exception>
    public void Build(KernelDescriptor kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            GetOrBuild(kernel);
        }
    }

    /// <summary>
    /// Runs <paramref name="kernel"/> on <paramref name="groupCount"/> groups of <paramref name="groupSize"/>
    /// threads and waits for it. <paramref name="arguments"/> follow <see cref="KernelDescriptor.Parameters"/>:
    /// float[]/int[]/uint[] for buffers (ReadWrite ones are read back in place), int/uint/float/bool for scalars.
    /// </summary>
    public void Launch(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, params object[] arguments)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(arguments);
        CheckShape(groupCount, nameof(groupCount));
        CheckShape(groupSize, nameof(groupSize));
        CheckArguments(kernel, arguments);

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            nint clKernel = GetOrBuild(kernel).Kernel.Value;
            var buffers = new OpenCLHandle?[arguments.Length];
            try
            {
                for (int i = 0; i < arguments.Length; i++)
                {
                    KernelParameter parameter = kernel.Parameters[i];
                    int status;
                    if (parameter.Kind == ParameterKind.Buffer)
                    {
                        var array = (Array)arguments[i];
                        buffers[i] = Upload(array, parameter.Access, kernel, groupCount, groupSize);
                        nint memory = buffers[i]!.Value;
                        status = clSetKernelArg(clKernel, (uint)i, (nuint)sizeof(nint), &memory);
                    }
                    else
                    {
                        int bits = ScalarBits(arguments[i]);
                        status = clSetKernelArg(clKernel, (uint)i, ElementBytes, &bits);
                    }

                    CheckLaunch(status, $"clSetKernelArg({parameter.Name})", kernel, groupCount, groupSize);
                }

                int dimensions = groupCount.Z != 1 || groupSize.Z != 1 ? 3 : groupCount.Y != 1 || groupSize.Y != 1 ? 2 : 1;
                nuint* global = stackalloc nuint[]
                {
                    (nuint)((long)groupCount.X * groupSize.X),
                    (nuint)((long)groupCount.Y * groupSize.Y),
                    (nuint)((long)groupCount.Z * groupSize.Z),
                };
                nuint* local = stackalloc nuint[] { (nuint)groupSize.X, (nuint)groupSize.Y, (nuint)groupSize.Z };
                CheckLaunch(
                    clEnqueueNDRangeKernel(_queue.Value, clKernel, (uint)dimensions, null, global, local, 0, null, null),
                    "clEnqueueNDRangeKernel", kernel, groupCount, groupSize);
                CheckLaunch(clFinish(_queue.Value), "clFinish", kernel, groupCount, groupSize);

                for (int i = 0; i < arguments.Length; i++)
                {
                    if (kernel.Parameters[i].Kind == ParameterKind.Buffer && kernel.Parameters[i].Access == BufferAccess.ReadWrite)
                    {
                        Download(buffers[i]!, (Array)arguments[i], kernel, groupCount, groupSize);
                    }
                }
            }
            finally
            {
                foreach (OpenCLHandle? buffer in buffers)
                {
                    buffer?.Dispose();
                }
            }
        }
    }

    /// <summary>Releases the built kernels and programs, the queue and the context.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (BuiltKernel built in _kernels.Values)
            {
                built.Kernel.Dispose();
                built.Program.Dispose();
            }

            _kernels.Clear();
            _queue.Dispose();
            _context.Dispose();
        }
    }

    public override string ToString() => $"opencl: {DeviceName}";

    private BuiltKernel GetOrBuild(KernelDescriptor kernel)
    {
        if (_kernels.TryGetValue(kernel.Name, out BuiltKernel? cached))
        {
            // Names are unique among generated kernels; two sources under one name is a caller bug, not a cache hit.
            if (!string.Equals(cached.Source, kernel.OpenCLSource, StringComparison.Ordinal))
            {
                throw new InvalidOperationException(
                    $"a different kernel named '{kernel.Name}' was already built in this OpenCL context");
            }

            return cached;
        }

        OpenCLHandle program = CompileProgram(kernel);
        try
        {
            int status;
            var clKernel = new OpenCLHandle(clCreateKernel(program.Value, kernel.Name, &status), OpenCLObjectKind.Kernel);
            if (status != CL_SUCCESS)
            {
                clKernel.Dispose();
                throw new KernelBuildException(
                    kernel.Name,
                    KernelDialect.OpenCL,
                    $"clCreateKernel: {ErrorName(status)} (is there a __kernel named '{kernel.Name}' in the source?)");
            }

            var built = new BuiltKernel(kernel.OpenCLSource, program, clKernel);
            _kernels.Add(kernel.Name, built);
            return built;
        }
        catch
        {
            program.Dispose();
            throw;
        }
    }

    private OpenCLHandle CompileProgram(KernelDescriptor kernel)
    {
        byte[] source = Encoding.UTF8.GetBytes(kernel.OpenCLSource);
        int status;
        OpenCLHandle program;
        fixed (byte* text = source)
        {
            byte* strings = text;
            nuint length = (nuint)source.Length;
            program = new OpenCLHandle(
                clCreateProgramWithSource(_context.Value, 1, &strings, &length, &status), OpenCLObjectKind.Program);
        }

        try
        {
            if (status != CL_SUCCESS)
            {
                throw new KernelBuildException(kernel.Name, KernelDialect.OpenCL, $"clCreateProgramWithSource: {ErrorName(status)}");
            }

            byte[] options = Encoding.ASCII.GetBytes(BuildOptions + "\0");
            nint device = _device;
            fixed (byte* optionText = options)
            {
                status = clBuildProgram(program.Value, 1, &device, optionText, 0, 0);
            }

            if (status != CL_SUCCESS)
            {
                string log = BuildLog(program.Value);
                // A rejected source is the common case; other statuses (no compiler, bad options) lead the log.
                throw new KernelBuildException(
                    kernel.Name, KernelDialect.OpenCL, status == CL_BUILD_PROGRAM_FAILURE ? log : $"{ErrorName(status)}\n{log}");
            }

            return program;
        }
        catch
        {
            program.Dispose();
            throw;
        }
    }

    private string BuildLog(nint program)
    {
        nuint size;
        if (clGetProgramBuildInfo(program, _device, CL_PROGRAM_BUILD_LOG, 0, null, &size) != CL_SUCCESS)
        {
            return "(no build log)";
        }

        byte[] log = new byte[(int)size];
        fixed (byte* text = log)
        {
            if (clGetProgramBuildInfo(program, _device, CL_PROGRAM_BUILD_LOG, size, text, null) != CL_SUCCESS)
            {
                return "(no build log)";
            }
        }

        return DecodeString(log);
    }

    private OpenCLHandle Upload(Array array, BufferAccess access, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize)
    {
        // OpenCL has no empty buffers; an empty array gets one unused element.
        nuint bytes = (nuint)array.Length * ElementBytes;
        ulong flags = access == BufferAccess.ReadOnly ? CL_MEM_READ_ONLY : CL_MEM_READ_WRITE;
        int status;
        var buffer = new OpenCLHandle(
            clCreateBuffer(_context.Value, flags, bytes == 0 ? ElementBytes : bytes, null, &status), OpenCLObjectKind.Memory);
        try
        {
            CheckLaunch(status, "clCreateBuffer", kernel, groupCount, groupSize);
            if (bytes != 0)
            {
                fixed (byte* data = &MemoryMarshal.GetArrayDataReference(array))
                {
                    CheckLaunch(
                        clEnqueueWriteBuffer(_queue.Value, buffer.Value, CL_TRUE, 0, bytes, data, 0, null, null),
                        "clEnqueueWriteBuffer", kernel, groupCount, groupSize);
                }
            }

            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private void Download(OpenCLHandle buffer, Array array, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize)
    {
        nuint bytes = (nuint)array.Length * ElementBytes;
        if (bytes == 0)
        {
            return;
        }

        fixed (byte* data = &MemoryMarshal.GetArrayDataReference(array))
        {
            CheckLaunch(
                clEnqueueReadBuffer(_queue.Value, buffer.Value, CL_TRUE, 0, bytes, data, 0, null, null),
                "clEnqueueReadBuffer", kernel, groupCount, groupSize);
        }
    }

    private void CheckLaunch(int status, string call, KernelDescriptor kernel, Int3 groupCount, Int3 groupSize)
    {
        if (status == CL_SUCCESS)
        {
            return;
        }

        throw new OpenCLException(
            $"launching kernel '{kernel.Name}' on opencl device '{DeviceName}' failed in {call}: {ErrorName(status)} " +
            $"(group count {groupCount}, group size {groupSize} = {groupSize.Product} threads per group; " +
            $"the device allows at most {_maxWorkGroupSize})",
            status);
    }

    private static void CheckShape(Int3 shape, string name)
    {
        if (shape.X < 1 || shape.Y < 1 || shape.Z < 1)
        {
            throw new ArgumentOutOfRangeException(
                name, shape, "every dimension must be at least 1 (use Int3.Size(x), which sets unused dimensions to 1)");
        }
    }

    /// <summary>Checks every argument against its parameter before any native work, so a mismatch leaks nothing.</summary>
    private static void CheckArguments(KernelDescriptor kernel, object[] arguments)
    {
        if (arguments.Length != kernel.Parameters.Count)
        {
            throw new ArgumentException(
                $"kernel {kernel} takes {kernel.Parameters.Count} argument(s), got {arguments.Length}", nameof(arguments));
        }

        for (int i = 0; i < arguments.Length; i++)
        {
            KernelParameter parameter = kernel.Parameters[i];
            object? argument = arguments[i];
            Type expected = parameter.Kind == ParameterKind.Buffer
                ? parameter.ElementType switch
                {
                    ElementType.Float => typeof(float[]),
                    ElementType.Int => typeof(int[]),
                    ElementType.UInt => typeof(uint[]),
                    _ => throw new ArgumentException(
                        $"kernel '{kernel.Name}' parameter '{parameter.Name}' is a bool buffer, which no device supports", nameof(arguments)),
                }
                : parameter.ElementType switch
                {
                    ElementType.Float => typeof(float),
                    ElementType.Int => typeof(int),
                    ElementType.UInt => typeof(uint),
                    _ => typeof(bool),
                };
            if (argument?.GetType() != expected)
            {
                throw new ArgumentException(
                    $"kernel '{kernel.Name}' parameter '{parameter.Name}' ({parameter}) expects {TypeName(expected)}, " +
                    $"got {(argument is null ? "null" : TypeName(argument.GetType()))}",
                    nameof(arguments));
            }
        }
    }

    /// <summary>C# spelling of the types a launch deals in (float[], not Single[]).</summary>
    private static string TypeName(Type type) => type.IsArray
        ? TypeName(type.GetElementType()!) + "[]"
        : Type.GetTypeCode(type) switch
        {
            TypeCode.Single => "float",
            TypeCode.Double => "double",
            TypeCode.Int32 => "int",
            TypeCode.UInt32 => "uint",
            TypeCode.Int64 => "long",
            TypeCode.Boolean => "bool",
            _ => type.Name,
        };

    /// <summary>A scalar's 32 bits as the kernel receives them; bool becomes int 0/1 (OpenCL forbids bool arguments).</summary>
    private static int ScalarBits(object value) => value switch
    {
        int i => i,
        uint u => unchecked((int)u),
        float f => BitConverter.SingleToInt32Bits(f),
        bool b => b ? 1 : 0,
        _ => throw new ArgumentException($"unsupported scalar type {value.GetType().Name}", nameof(value)),
    };

    /// <summary>The platforms, or null (with the reason) when no loader or no platform is installed.</summary>
    private static nint[]? TryGetPlatforms(out string why)
    {
        uint count;
        int status;
        try
        {
            status = clGetPlatformIDs(0, null, &count);
        }
        catch (DllNotFoundException)
        {
            why = $"{OpenCLNative.Library} could not be loaded";
            return null;
        }

        // The ICD loader reports CL_PLATFORM_NOT_FOUND_KHR when no vendor file in /etc/OpenCL/vendors loads.
        if (status == CL_PLATFORM_NOT_FOUND_KHR || (status == CL_SUCCESS && count == 0))
        {
            why = $"{OpenCLNative.Library} loaded, but no installable client driver registered a platform";
            return null;
        }

        Check(status, "clGetPlatformIDs");
        var platforms = new nint[count];
        fixed (nint* list = platforms)
        {
            Check(clGetPlatformIDs(count, list, null), "clGetPlatformIDs");
        }

        why = "";
        return platforms;
    }

    private static nint[] GetDevices(nint platform)
    {
        uint count;
        int status = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, null, &count);
        if (status == CL_DEVICE_NOT_FOUND || (status == CL_SUCCESS && count == 0))
        {
            return [];
        }

        Check(status, "clGetDeviceIDs");
        var devices = new nint[count];
        fixed (nint* list = devices)
        {
            Check(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, list, null), "clGetDeviceIDs");
        }

        return devices;
    }

    private static string PlatformString(nint platform, uint parameter)
    {
        nuint size;
        Check(clGetPlatformInfo(platform, parameter, 0, null, &size), "clGetPlatformInfo");
        byte[] value = new byte[(int)size];
        fixed (byte* text = value)
        {
            Check(clGetPlatformInfo(platform, parameter, size, text, null), "clGetPlatformInfo");
        }

        return DecodeString(value);
    }

    private static string DeviceString(nint device, uint parameter)
    {
        nuint size;
        Check(clGetDeviceInfo(device, parameter, 0, null, &size), "clGetDeviceInfo");
        byte[] value = new byte[(int)size];
        fixed (byte* text = value)
        {
            Check(clGetDeviceInfo(device, parameter, size, text, null), "clGetDeviceInfo");
        }

        return DecodeString(value);
    }

    private static T DeviceValue<T>(nint device, uint parameter)
        where T : unmanaged
    {
        T value;
        Check(clGetDeviceInfo(device, parameter, (nuint)sizeof(T), &value, null), "clGetDeviceInfo");
        return value;
    }

    /// <summary>A NUL-terminated info string; drivers pad some names with spaces.</summary>
    private static string DecodeString(byte[] value)
    {
        int end = Array.IndexOf(value, (byte)0);
        return Encoding.UTF8.GetString(value, 0, end < 0 ? value.Length : end).Trim();
    }

    private static void Check(int status, string call)
    {
        if (status != CL_SUCCESS)
        {
            throw new OpenCLException($"{call} failed: {ErrorName(status)}", status);
        }
    }

    private sealed record BuiltKernel(string Source, OpenCLHandle Program, OpenCLHandle Kernel);
}
