using System.Collections.Concurrent;
using System.Text;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.OpenCL.OpenCLNative;

namespace GpuViT.Kernels.OpenCL;

/// <summary>
/// An OpenCL 1.2+ device behind the <see cref="Device"/> API: one context, in-order profiling
/// queues as streams, cl_mem buffers, and the generated OpenCL C built once per device (or
/// loaded from the <see cref="KernelCache"/>).
/// </summary>
/// <remarks>
/// Kernel ABI: the generated OpenCL C takes each buffer parameter as two arguments, the cl_mem and
/// an int element offset, so a <see cref="DeviceView{T}"/> may start at any element (sub-buffers
/// would need the device's base-address alignment); each scalar is one argument, bool as int.
/// </remarks>
internal sealed unsafe class OpenCLDevice : Device
{
    /// <summary>Pins the dialect the generator targets, so a 2.0-only construct fails on every device alike.</summary>
    internal const string BuildOptions = "-cl-std=CL1.2";

    private readonly nint _device; // root devices are not reference counted
    private readonly OpenCLHandle _context;
    private readonly KernelCache _cache;
    private readonly OpenCLStream _defaultStream;
    private readonly List<OpenCLStream> _streams = new();
    private readonly ConcurrentDictionary<string, PreparedKernel> _kernels = new(StringComparer.Ordinal);
    private readonly object _buildGate = new();

    private OpenCLDevice(DeviceInfo info, nint device, OpenCLHandle context, KernelCache cache)
        : base(info)
    {
        _device = device;
        _context = context;
        _cache = cache;
        _defaultStream = new OpenCLStream(this, CreateQueue(), isDefault: true);
        _streams.Add(_defaultStream);
    }

    public override DeviceStream DefaultStream => _defaultStream;

    /// <summary>
    /// Every device of every platform, as <c>opencl:P.D</c>; never throws. Beside devices found,
    /// the problem says what could not be listed or described, such as a PoCL platform whose
    /// cache directory is not writable.
    /// </summary>
    public static DeviceDiscovery Discover()
    {
        lock (OpenCLQueries.DriverGate)
        {
            return DiscoverUnderGate();
        }
    }

    private static DeviceDiscovery DiscoverUnderGate()
    {
        nint[]? platforms = OpenCLQueries.TryGetPlatforms(out string problem);
        if (platforms is null)
        {
            return DeviceDiscovery.None(problem);
        }

        var devices = new List<DeviceInfo>();
        var failures = new List<string>();
        for (int p = 0; p < platforms.Length; p++)
        {
            nint[] platformDevices;
            try
            {
                platformDevices = OpenCLQueries.GetDevices(platforms[p]);
            }
            catch (OpenCLException e)
            {
                failures.Add($"platform {p}: {e.Message}");
                continue;
            }

            if (platformDevices.Length == 0 && PoclCacheProblem(platforms[p]) is { } cacheProblem)
            {
                failures.Add($"platform {p}: {cacheProblem}");
            }

            for (int d = 0; d < platformDevices.Length; d++)
            {
                try
                {
                    devices.Add(OpenCLQueries.Describe(p, d, platforms[p], platformDevices[d]));
                }
                catch (OpenCLException e)
                {
                    failures.Add($"opencl:{p}.{d}: {e.Message}");
                }
            }
        }

        return devices.Count > 0
            ? new DeviceDiscovery(devices, failures.Count > 0 ? string.Join("; ", failures) : null)
            : DeviceDiscovery.None(
                $"no OpenCL device: {platforms.Length} platform(s) found, none with a usable device"
                + (failures.Count > 0 ? $" ({string.Join("; ", failures)})" : $" ({OpenCLQueries.InstallHint})"));
    }

    /// <summary>
    /// Why a PoCL platform has no devices when its kernel cache directory cannot be written: PoCL
    /// then lists none, which would otherwise read as a missing package. Null for any other platform,
    /// or when the directory is writable.
    /// </summary>
    private static string? PoclCacheProblem(nint platform)
    {
        if (!OpenCLQueries.PlatformString(platform, CL_PLATFORM_NAME).Contains("Portable Computing Language", StringComparison.Ordinal))
        {
            return null;
        }

        // Where PoCL puts it (pocl_cache.c): $POCL_CACHE_DIR, else under $XDG_CACHE_HOME, else ~/.cache, else /tmp.
        static string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
        string? cacheRoot = Variable("XDG_CACHE_HOME") ?? (Variable("HOME") is { } home ? Path.Combine(home, ".cache") : null);
        string directory = Variable("POCL_CACHE_DIR") ?? (cacheRoot is null ? "/tmp/POCL_CACHE" : Path.Combine(cacheRoot, "pocl", "kcache"));
        try
        {
            Directory.CreateDirectory(directory);
            using (File.Create(Path.Combine(directory, $".gpuvit-probe-{Environment.ProcessId}"), 1, FileOptions.DeleteOnClose))
            {
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"PoCL's kernel cache directory {directory} is not writable; set POCL_CACHE_DIR to a writable directory";
        }
    }

    /// <summary>Opens device <paramref name="device"/> of platform <paramref name="platform"/> (<c>opencl:platform.device</c>).</summary>
    /// <exception cref="DeviceUnavailableException">No OpenCL runtime, no such device, or it cannot be opened.</exception>
    public static OpenCLDevice Open(int platform, int device, KernelCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        lock (OpenCLQueries.DriverGate)
        {
            return OpenUnderGate(platform, device, cache);
        }
    }

    private static OpenCLDevice OpenUnderGate(int platform, int device, KernelCache cache)
    {
        string id = $"opencl:{platform}.{device}";
        nint[] platforms = OpenCLQueries.TryGetPlatforms(out string problem) ?? throw new DeviceUnavailableException(problem);
        try
        {
            nint[] devices = platform >= 0 && platform < platforms.Length ? OpenCLQueries.GetDevices(platforms[platform]) : [];
            if (device < 0 || device >= devices.Length)
            {
                var found = new List<string>();
                for (int p = 0; p < platforms.Length; p++)
                {
                    int count = OpenCLQueries.GetDevices(platforms[p]).Length;
                    found.AddRange(Enumerable.Range(0, count).Select(d => $"opencl:{p}.{d}"));
                }

                throw new DeviceUnavailableException($"no OpenCL device {id}: found {(found.Count == 0 ? "none" : string.Join(", ", found))}");
            }

            DeviceInfo info = OpenCLQueries.Describe(platform, device, platforms[platform], devices[device]);
            nint handle = devices[device];
            nint* properties = stackalloc nint[] { CL_CONTEXT_PLATFORM, platforms[platform], 0 };
            int status;
            var context = new OpenCLHandle(clCreateContext(properties, 1, &handle, 0, 0, &status), OpenCLObjectKind.Context);
            try
            {
                OpenCLQueries.Check(status, "clCreateContext");
                return new OpenCLDevice(info, handle, context, cache);
            }
            catch
            {
                context.Dispose();
                throw;
            }
        }
        catch (OpenCLException e)
        {
            throw new DeviceUnavailableException($"cannot open {id}: {e.Message}");
        }
    }

    /// <summary>The statuses with which OpenCL says memory ran out.</summary>
    internal static bool IsOutOfMemory(int status) =>
        status is CL_MEM_OBJECT_ALLOCATION_FAILURE or CL_OUT_OF_RESOURCES or CL_OUT_OF_HOST_MEMORY or CL_INVALID_BUFFER_SIZE;

    protected override DeviceMemory AllocateCore<T>(long length, long bytes, long freeBytes)
    {
        // OpenCL has no empty buffers: an empty one gets a few unused bytes (the accounting says 0).
        int status;
        var memory = new OpenCLHandle(
            clCreateBuffer(_context.Value, CL_MEM_READ_WRITE, (nuint)Math.Max(bytes, sizeof(int)), null, &status), OpenCLObjectKind.Memory);
        if (status == CL_SUCCESS)
        {
            return new OpenCLMemory(memory);
        }

        memory.Dispose();
        if (IsOutOfMemory(status))
        {
            throw new DeviceOutOfMemoryException(Info.Id, bytes, freeBytes, Info.MaxAllocationBytes);
        }

        throw new OpenCLException($"clCreateBuffer of {bytes} bytes on {Info.Id} failed: {ErrorName(status)}", status);
    }

    protected override PinnedBuffer<T> AllocatePinnedCore<T>(int length) => PinnedBuffer<T>.Native(length);

    protected override DeviceStream CreateStreamCore()
    {
        var stream = new OpenCLStream(this, CreateQueue(), isDefault: false);
        lock (_streams)
        {
            _streams.Add(stream);
        }

        return stream;
    }

    protected override void PrepareCore(KernelDescriptor kernel) => GetKernel(kernel);

    protected override void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments)
    {
        PreparedKernel prepared = GetKernel(kernel);
        var target = (OpenCLStream)stream;
        KernelLaunchException Failure(string problem) => new(kernel.Name, groupCount, groupSize, Info.Id, problem);

        // Every buffer stays alive from its clSetKernelArg to the enqueue, even if another thread
        // disposes it meanwhile; once queued, OpenCL itself keeps it until the kernel ends.
        var buffers = new OpenCLHandle?[arguments.Length];
        var leased = new bool[arguments.Length];
        try
        {
            for (int i = 0; i < arguments.Length; i++)
            {
                KernelArgument argument = arguments[i];
                if (argument.Buffer is null)
                {
                    continue;
                }

                if (argument.Offset > int.MaxValue)
                {
                    throw Failure($"the view for '{argument.Parameter.Name}' starts at element {argument.Offset}; OpenCL kernels take an int element offset");
                }

                buffers[i] = OpenCLMemory.Of(argument.Buffer).Handle;
                buffers[i]!.DangerousAddRef(ref leased[i]);
            }

            using OpenCLHandle.Lease queue = target.Queue.Acquire();
            // A cl_kernel's arguments are state shared by every thread that launches it: set them
            // and enqueue under its lock (the enqueue captures the values, so the lock ends there).
            lock (prepared)
            {
                nint clKernel = prepared.Kernel.Value;
                uint index = 0;
                for (int i = 0; i < arguments.Length; i++)
                {
                    KernelArgument argument = arguments[i];
                    if (buffers[i] is { } buffer)
                    {
                        nint memory = buffer.Value;
                        int offset = (int)argument.Offset;
                        SetArgument(clKernel, index++, (nuint)sizeof(nint), &memory, argument, "buffer", Failure);
                        SetArgument(clKernel, index++, sizeof(int), &offset, argument, "offset", Failure);
                    }
                    else
                    {
                        int bits = ScalarBits(argument.Scalar);
                        SetArgument(clKernel, index++, sizeof(int), &bits, argument, "value", Failure);
                    }
                }

                // Warp operations' scratch: the hidden last __local argument, one slice per thread.
                if (kernel.OpenCLScratchWordsPerThread > 0)
                {
                    nuint scratchBytes = (nuint)kernel.OpenCLScratchBytes(groupSize);
                    int scratchStatus = clSetKernelArg(clKernel, index++, scratchBytes, null);
                    if (scratchStatus != CL_SUCCESS)
                    {
                        throw Failure($"clSetKernelArg({index - 1}, the {scratchBytes}-byte local scratch of the warp operations): {ErrorName(scratchStatus)}");
                    }
                }

                int dimensions = groupCount.Z != 1 || groupSize.Z != 1 ? 3 : groupCount.Y != 1 || groupSize.Y != 1 ? 2 : 1;
                nuint* global = stackalloc nuint[]
                {
                    (nuint)((long)groupCount.X * groupSize.X),
                    (nuint)((long)groupCount.Y * groupSize.Y),
                    (nuint)((long)groupCount.Z * groupSize.Z),
                };
                nuint* local = stackalloc nuint[] { (nuint)groupSize.X, (nuint)groupSize.Y, (nuint)groupSize.Z };
                nint done;
                int status = clEnqueueNDRangeKernel(queue.Value, clKernel, (uint)dimensions, null, global, local, 0, null, &done);
                if (status != CL_SUCCESS)
                {
                    throw Failure($"clEnqueueNDRangeKernel: {ErrorName(status)}" + (status == CL_INVALID_WORK_GROUP_SIZE
                        ? $" (this kernel allows at most {prepared.MaxGroupSize} threads per group on this device)"
                        : string.Empty));
                }

                target.Track(done);
            }

            clFlush(queue.Value);
        }
        finally
        {
            for (int i = 0; i < buffers.Length; i++)
            {
                if (leased[i])
                {
                    buffers[i]!.DangerousRelease();
                }
            }
        }
    }

    protected override void SynchronizeCore()
    {
        OpenCLStream[] streams;
        lock (_streams)
        {
            streams = _streams.ToArray();
        }

        foreach (OpenCLStream stream in streams)
        {
            stream.Synchronize();
        }
    }

    protected override void DisposeCore()
    {
        lock (_buildGate)
        {
            foreach (PreparedKernel prepared in _kernels.Values)
            {
                prepared.Kernel.Dispose();
                prepared.Program.Dispose();
            }

            _kernels.Clear();
        }

        _defaultStream.Close();
        _context.Dispose();
    }

    /// <summary>A stream was closed: it no longer takes part in <see cref="Device.Synchronize"/>.</summary>
    internal void Forget(OpenCLStream stream)
    {
        lock (_streams)
        {
            _streams.Remove(stream);
        }
    }

    private OpenCLHandle CreateQueue()
    {
        int status;
        var queue = new OpenCLHandle(
            clCreateCommandQueue(_context.Value, _device, CL_QUEUE_PROFILING_ENABLE, &status), OpenCLObjectKind.CommandQueue);
        if (status != CL_SUCCESS)
        {
            queue.Dispose();
            throw new OpenCLException($"clCreateCommandQueue on {Info.Id} failed: {ErrorName(status)}", status);
        }

        return queue;
    }

    private static void SetArgument(
        nint kernel, uint index, nuint size, void* value, KernelArgument argument, string part, Func<string, KernelLaunchException> failure)
    {
        int status = clSetKernelArg(kernel, index, size, value);
        if (status != CL_SUCCESS)
        {
            throw failure($"clSetKernelArg({index}, the {part} of '{argument.Parameter.Name}'): {ErrorName(status)}");
        }
    }

    /// <summary>A scalar's 32 bits as the kernel receives them (bools arrive as int 0/1).</summary>
    private static int ScalarBits(object? value) => value switch
    {
        int i => i,
        uint u => unchecked((int)u),
        float f => BitConverter.SingleToInt32Bits(f),
        _ => throw new ArgumentException($"unsupported scalar {value?.GetType().Name ?? "null"}", nameof(value)),
    };

    /// <summary>The built kernel, building it first (from the cache, else from source) if this device has not.</summary>
    private PreparedKernel GetKernel(KernelDescriptor kernel)
    {
        if (_kernels.TryGetValue(kernel.Name, out PreparedKernel? prepared))
        {
            return SameSource(prepared, kernel);
        }

        lock (_buildGate)
        {
            ThrowIfDisposed();
            if (_kernels.TryGetValue(kernel.Name, out prepared))
            {
                return SameSource(prepared, kernel);
            }

            prepared = Build(kernel);
            _kernels[kernel.Name] = prepared;
            return prepared;
        }
    }

    /// <summary>Names are unique among generated kernels; two sources under one name is a caller's bug, not a hit.</summary>
    private PreparedKernel SameSource(PreparedKernel prepared, KernelDescriptor kernel)
    {
        if (!ReferenceEquals(prepared.Source, kernel.OpenCLSource) && !string.Equals(prepared.Source, kernel.OpenCLSource, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"a different kernel named '{kernel.Name}' was already built on {Info.Id}");
        }

        return prepared;
    }

    private PreparedKernel Build(KernelDescriptor kernel) => _cache.LoadOrBuild(
        kernel,
        KernelDialect.OpenCL,
        Info,
        BuildOptions,
        load: binary => TryBuildFromBinary(kernel, binary),
        build: () => BuildFromSource(kernel),
        binaryOf: prepared => ProgramBinary(prepared.Program.Value),
        builds: Builds);

    private PreparedKernel BuildFromSource(KernelDescriptor kernel)
    {
        OpenCLHandle program = CompileSource(kernel);
        try
        {
            return CreateKernel(kernel, program);
        }
        catch
        {
            program.Dispose();
            throw;
        }
    }

    private OpenCLHandle CompileSource(KernelDescriptor kernel)
    {
        byte[] source = Encoding.UTF8.GetBytes(kernel.OpenCLSource);
        int status;
        OpenCLHandle program;
        fixed (byte* text = source)
        {
            byte* strings = text;
            nuint length = (nuint)source.Length;
            program = new OpenCLHandle(clCreateProgramWithSource(_context.Value, 1, &strings, &length, &status), OpenCLObjectKind.Program);
        }

        try
        {
            if (status != CL_SUCCESS)
            {
                throw new KernelBuildException(kernel.Name, KernelDialect.OpenCL, $"clCreateProgramWithSource: {ErrorName(status)}");
            }

            status = BuildProgram(program.Value);
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

    /// <summary>The kernel from a cached binary, or null when the driver refuses the binary at any step.</summary>
    private PreparedKernel? TryBuildFromBinary(KernelDescriptor kernel, byte[] binary)
    {
        int status, binaryStatus = CL_SUCCESS;
        OpenCLHandle program;
        nint device = _device;
        fixed (byte* data = binary)
        {
            byte* binaries = data;
            nuint length = (nuint)binary.Length;
            program = new OpenCLHandle(
                clCreateProgramWithBinary(_context.Value, 1, &device, &length, &binaries, &binaryStatus, &status), OpenCLObjectKind.Program);
        }

        try
        {
            if (status == CL_SUCCESS && binaryStatus == CL_SUCCESS && BuildProgram(program.Value) == CL_SUCCESS)
            {
                return CreateKernel(kernel, program);
            }
        }
        catch (KernelBuildException)
        {
        }

        program.Dispose();
        return null;
    }

    private int BuildProgram(nint program)
    {
        byte[] options = Encoding.ASCII.GetBytes(BuildOptions + "\0");
        nint device = _device;
        fixed (byte* optionText = options)
        {
            lock (OpenCLQueries.DriverGate)
            {
                return clBuildProgram(program, 1, &device, optionText, 0, 0);
            }
        }
    }

    /// <summary>The entry point, checked against the descriptor's argument ABI.</summary>
    private PreparedKernel CreateKernel(KernelDescriptor kernel, OpenCLHandle program)
    {
        int status;
        var clKernel = new OpenCLHandle(clCreateKernel(program.Value, kernel.Name, &status), OpenCLObjectKind.Kernel);
        try
        {
            if (status != CL_SUCCESS)
            {
                throw new KernelBuildException(
                    kernel.Name, KernelDialect.OpenCL, $"clCreateKernel: {ErrorName(status)} (is there a __kernel named '{kernel.Name}' in the source?)");
            }

            uint arguments;
            OpenCLQueries.Check(clGetKernelInfo(clKernel.Value, CL_KERNEL_NUM_ARGS, sizeof(uint), &arguments, null), "clGetKernelInfo");
            // The warp operations' scratch is a hidden last argument.
            int scratch = kernel.OpenCLScratchWordsPerThread > 0 ? 1 : 0;
            int expected = kernel.Parameters.Sum(p => p.Kind == ParameterKind.Buffer ? 2 : 1) + scratch;
            if (arguments != expected)
            {
                throw new KernelBuildException(
                    kernel.Name,
                    KernelDialect.OpenCL,
                    $"the __kernel '{kernel.Name}' takes {arguments} arguments; its {kernel.Parameters.Count} parameters need {expected} "
                    + "(a buffer is a pointer and an int element offset, a scalar one argument"
                    + (scratch > 0 ? ", and the warp operations' local scratch" : string.Empty) + ")");
            }

            nuint maxGroupSize;
            OpenCLQueries.Check(
                clGetKernelWorkGroupInfo(clKernel.Value, _device, CL_KERNEL_WORK_GROUP_SIZE, (nuint)sizeof(nuint), &maxGroupSize, null),
                "clGetKernelWorkGroupInfo");
            return new PreparedKernel(kernel.OpenCLSource, program, clKernel, (long)maxGroupSize);
        }
        catch
        {
            clKernel.Dispose();
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

        return OpenCLQueries.DecodeString(log);
    }

    /// <summary>The built program's binary for the kernel cache, or null when the driver gives none.</summary>
    private static byte[]? ProgramBinary(nint program)
    {
        nuint size;
        if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, (nuint)sizeof(nuint), &size, null) != CL_SUCCESS || size == 0 || size > int.MaxValue)
        {
            return null;
        }

        var binary = new byte[(int)size];
        fixed (byte* data = binary)
        {
            byte* binaries = data;
            return clGetProgramInfo(program, CL_PROGRAM_BINARIES, (nuint)sizeof(nint), &binaries, null) == CL_SUCCESS ? binary : null;
        }
    }

    /// <summary>One built kernel; launches lock it, since its cl_kernel's arguments are shared state.</summary>
    private sealed class PreparedKernel(string source, OpenCLHandle program, OpenCLHandle kernel, long maxGroupSize)
    {
        public string Source { get; } = source;

        public OpenCLHandle Program { get; } = program;

        public OpenCLHandle Kernel { get; } = kernel;

        /// <summary>CL_KERNEL_WORK_GROUP_SIZE: this kernel's limit on this device, at most the device's.</summary>
        public long MaxGroupSize { get; } = maxGroupSize;
    }
}

/// <summary>A cl_mem, released when its buffer is disposed.</summary>
internal sealed class OpenCLMemory(OpenCLHandle handle) : DeviceMemory
{
    public OpenCLHandle Handle { get; } = handle;

    public static OpenCLMemory Of(DeviceBuffer buffer) =>
        buffer.Memory as OpenCLMemory ?? throw new ArgumentException($"{buffer} is not an OpenCL buffer", nameof(buffer));

    protected internal override void Free() => Handle.Dispose();
}
