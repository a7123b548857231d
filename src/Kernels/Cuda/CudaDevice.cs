using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Cuda.CudaNative;

namespace GpuViT.Kernels.Cuda;

/// <summary>A CUDA driver call failed; the message names the call, the device and the CUresult.</summary>
public sealed class CudaException : Exception
{
    public CudaException(string call, int result, string? deviceId = null)
        : base($"{call}{(deviceId is null ? "" : $" on {deviceId}")} failed: {CudaNative.ErrorName(result)}")
    {
        Call = call;
        Result = result;
    }

    /// <summary>The driver entry point, e.g. cuMemcpyHtoDAsync.</summary>
    public string Call { get; }

    /// <summary>The raw CUresult, e.g. 700.</summary>
    public int Result { get; }

    /// <summary>The CUresult's name, e.g. CUDA_ERROR_ILLEGAL_ADDRESS.</summary>
    public string ErrorName => CudaNative.ErrorName(Result);
}

/// <summary>
/// An NVIDIA GPU through the CUDA driver API. Each device retains its GPU's primary context (the
/// one the CUDA runtime shares, so buffers interoperate with other CUDA libraries in the process)
/// and makes it current on the calling thread at the start of every call, since callers may
/// switch threads. Kernels are compiled by NVRTC to a cubin for the GPU (PTX when NVRTC is older
/// than the GPU) and kept in the <see cref="KernelCache"/>.
/// </summary>
/// <remarks>
/// Kernel launches and asynchronous copies report some failures (an illegal address in a kernel)
/// only at the next synchronizing call, as a <see cref="CudaException"/>; such errors are sticky:
/// the context is unusable afterwards and the process must restart to use the GPU again.
/// </remarks>
internal sealed unsafe class CudaDevice : Device
{
    /// <summary>How to get libcuda.so.1: it ships with the driver, never with the toolkit or NVRTC.</summary>
    private const string InstallHint = "on Debian: add 'non-free' to the apt sources, then apt-get install nvidia-driver";

    private static readonly Lazy<DriverProbe> s_driver = new(ProbeDriver);

    private readonly int _device;
    private readonly nint _context;
    private readonly KernelCache _cache;
    private readonly CudaTarget? _target;
    private readonly string _computeCapability;
    private readonly int _computeCapabilityNumber;
    private readonly CudaStream _defaultStream;
    private readonly object _buildGate = new();
    private readonly ConcurrentDictionary<KernelDescriptor, CudaKernel> _kernels = new();
    private readonly HashSet<CudaEvent> _events = new();

    private CudaDevice(DeviceInfo info, int device, nint context, (int Major, int Minor) computeCapability, KernelCache cache)
        : base(info)
    {
        _device = device;
        _context = context;
        _cache = cache;
        _computeCapability = $"sm_{computeCapability.Major}{computeCapability.Minor}";
        _computeCapabilityNumber = computeCapability.Major * 10 + computeCapability.Minor;
        _target = Nvrtc.IsAvailable ? CudaTarget.For(computeCapability.Major, computeCapability.Minor, Nvrtc.SupportedArchitectures) : null;
        _defaultStream = new CudaStream(this, isDefault: true);
    }

    public override DeviceStream DefaultStream => _defaultStream;

    /// <summary>Every GPU the driver reports, or one line on why there is none and how to install a driver. Never throws.</summary>
    public static DeviceDiscovery Discover()
    {
        DriverProbe driver = s_driver.Value;
        if (driver.Problem is not null)
        {
            return DeviceDiscovery.None(driver.Problem);
        }

        var devices = new List<DeviceInfo>();
        var problems = new List<string>();
        for (int ordinal = 0; ordinal < driver.DeviceCount; ordinal++)
        {
            try
            {
                devices.Add(Describe(ordinal, driver.Version).Info);
            }
            catch (Exception e) when (e is CudaException or EntryPointNotFoundException)
            {
                problems.Add($"cuda:{ordinal} could not be described: {FirstLine(e.Message)}");
            }
        }

        return new DeviceDiscovery(devices, problems.Count == 0 ? null : string.Join("; ", problems));
    }

    /// <summary>Opens GPU <paramref name="ordinal"/> (the N of <c>cuda:N</c>).</summary>
    /// <exception cref="DeviceUnavailableException">No driver, no such GPU, or the GPU refused a context; one line.</exception>
    public static Device Open(int ordinal, KernelCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        DriverProbe driver = s_driver.Value;
        if (driver.Problem is not null)
        {
            throw new DeviceUnavailableException(driver.Problem);
        }

        if (ordinal < 0 || ordinal >= driver.DeviceCount)
        {
            throw new DeviceUnavailableException(
                $"no CUDA device cuda:{ordinal}: the driver reports {driver.DeviceCount} (cuda:0{(driver.DeviceCount > 1 ? $" to cuda:{driver.DeviceCount - 1}" : "")})");
        }

        try
        {
            Description description = Describe(ordinal, driver.Version);
            nint context;
            CheckDriver(cuDevicePrimaryCtxRetain(&context, description.Device), "cuDevicePrimaryCtxRetain");
            try
            {
                CheckDriver(cuCtxSetCurrent(context), "cuCtxSetCurrent");
                return new CudaDevice(description.Info, description.Device, context, description.ComputeCapability, cache);
            }
            catch
            {
                _ = cuDevicePrimaryCtxRelease_v2(description.Device);
                throw;
            }
        }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException)
        {
            throw new DeviceUnavailableException($"cuda:{ordinal} could not be opened: {FirstLine(e.Message)}");
        }
    }

    /// <summary>
    /// Peak FP32 throughput and memory bandwidth from the device's attributes. FP32: SMs × FP32
    /// cores per SM (known per compute capability) × 2 (an FMA is two FLOPs) × the SM clock.
    /// Memory: the theoretical figure, 2 (double data rate) × the memory clock × the bus width
    /// in bytes; copies sustain some 80–90% of it.
    /// </summary>
    /// <param name="clockKHz">CU_DEVICE_ATTRIBUTE_CLOCK_RATE (the peak clock the driver reports), kHz.</param>
    /// <param name="memoryClockKHz">CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, kHz.</param>
    /// <param name="memoryBusWidthBits">CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, bits.</param>
    internal static DevicePeaks PeaksFromAttributes(
        (int Major, int Minor) computeCapability, int multiprocessors, int clockKHz, int memoryClockKHz, int memoryBusWidthBits)
    {
        double? fp32 = Fp32CoresPerMultiprocessor(computeCapability) is int cores && multiprocessors > 0 && clockKHz > 0
            ? multiprocessors * cores * 2.0 * clockKHz / 1e6
            : null;
        double? memory = memoryClockKHz > 0 && memoryBusWidthBits > 0
            ? 2.0 * memoryClockKHz * (memoryBusWidthBits / 8.0) / 1e6
            : null;
        return fp32 is null && memory is null ? DevicePeaks.Unknown : new DevicePeaks(fp32, memory, PeakSource.Attributes);
    }

    /// <summary>FP32 cores per SM for the architectures whose count is known here; null for others.</summary>
    internal static int? Fp32CoresPerMultiprocessor((int Major, int Minor) computeCapability) => computeCapability switch
    {
        (7, 0) or (7, 2) or (7, 5) => 64, // Volta, Xavier, Turing
        (8, 0) => 64, // A100
        (8, 6) or (8, 7) or (8, 9) => 128, // consumer Ampere, Orin, Ada
        (9, 0) => 128, // Hopper
        _ => null,
    };

    protected override DeviceMemory AllocateCore<T>(long length, long bytes, long freeBytes)
    {
        Enter();
        if (bytes == 0)
        {
            // cuMemAlloc rejects 0 bytes; an empty buffer needs no memory and no kernel reads it.
            return new CudaMemory(this, 0);
        }

        ulong pointer;
        int result = cuMemAlloc_v2(&pointer, (nuint)bytes);
        if (result == CUDA_ERROR_OUT_OF_MEMORY)
        {
            // The driver's own count: other processes and contexts share the GPU.
            nuint free, total;
            long driverFree = cuMemGetInfo_v2(&free, &total) == CUDA_SUCCESS ? (long)free : freeBytes;
            throw new DeviceOutOfMemoryException(Info.Id, bytes, driverFree, Info.MaxAllocationBytes);
        }

        Check(result, "cuMemAlloc");
        return new CudaMemory(this, pointer);
    }

    protected override long? DriverFreeBytes()
    {
        Enter();
        nuint free, total;
        return cuMemGetInfo_v2(&free, &total) == CUDA_SUCCESS ? (long)free : null;
    }

    protected override PinnedBuffer<T> AllocatePinnedCore<T>(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Enter();
        long bytes = Math.Max(1L, (long)length * Unsafe.SizeOf<T>());
        void* pointer;
        int result = cuMemAllocHost_v2(&pointer, (nuint)bytes);
        if (result == CUDA_ERROR_OUT_OF_MEMORY)
        {
            throw new OutOfMemoryException(
                $"cuMemAllocHost on {Info.Id}: {DeviceOutOfMemoryException.Bytes(bytes)} of page-locked host memory is not available");
        }

        Check(result, "cuMemAllocHost");
        return new PinnedBuffer<T>((nint)pointer, length, FreeHost);
    }

    protected override DeviceStream CreateStreamCore() => new CudaStream(this, isDefault: false);

    protected override void PrepareCore(KernelDescriptor kernel)
    {
        if (_kernels.ContainsKey(kernel))
        {
            return;
        }

        lock (_buildGate)
        {
            if (_kernels.ContainsKey(kernel))
            {
                return;
            }

            if (kernel.MinimumComputeCapability > _computeCapabilityNumber)
            {
                // Tensor-core MMA and cp.async exist from sm_80 on: refuse before NVRTC would.
                int needed = kernel.MinimumComputeCapability;
                throw new KernelBuildException(
                    kernel.Name, KernelDialect.Cuda, $"it needs compute capability {needed / 10}.{needed % 10} or newer (sm_{needed}); {Info.Id} is {_computeCapability}");
            }

            Enter();
            CudaTarget target = _target ?? throw NoTarget(kernel);
            nint module = _cache.LoadOrBuild(
                kernel,
                KernelDialect.Cuda,
                Info,
                target.CacheOptions,
                load: image => LoadModule(image, out nint loaded) == CUDA_SUCCESS ? new CudaModule(loaded, image) : null,
                build: () => Build(kernel, target),
                binaryOf: built => built.Image,
                builds: Builds).Handle;

            nint function;
            int found = cuModuleGetFunction(&function, module, kernel.Name);
            if (found != CUDA_SUCCESS)
            {
                _ = cuModuleUnload(module);
                throw new KernelBuildException(
                    kernel.Name, KernelDialect.Cuda, $"cuModuleGetFunction found no entry point '{kernel.Name}': {ErrorName(found)}");
            }

            _kernels[kernel] = new CudaKernel(module, function);
        }
    }

    /// <remarks>
    /// Nothing here synchronizes or allocates (cuCtxSetCurrent and cuLaunchKernel only), so a
    /// launch may be captured into a graph. Build the kernel before a capture (a plain first pass
    /// does): Launch builds it on first use, and loading a module is no graph work and may be
    /// refused inside a capture.
    /// </remarks>
    protected override void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments)
    {
        CudaKernel compiled = _kernels[kernel];
        nint handle = ((CudaStream)stream).Handle;

        // One 8-byte slot per argument holds its value; the driver reads as many bytes as the
        // kernel's parameter declares (8 for a pointer, 4 for int, unsigned int and float).
        ulong* values = stackalloc ulong[Math.Max(1, arguments.Length)];
        void** parameters = stackalloc void*[Math.Max(1, arguments.Length)];
        for (int i = 0; i < arguments.Length; i++)
        {
            KernelArgument argument = arguments[i];
            if (argument.Buffer is DeviceBuffer buffer)
            {
                // A view's first element is the kernel's index 0.
                values[i] = ((CudaMemory)buffer.Memory).Pointer + (ulong)(argument.Offset * buffer.ElementSize);
            }
            else
            {
                values[i] = 0;
                switch (argument.Scalar)
                {
                    case int value:
                        *(int*)&values[i] = value;
                        break;
                    case uint value:
                        *(uint*)&values[i] = value;
                        break;
                    case float value:
                        *(float*)&values[i] = value;
                        break;
                    default:
                        throw new KernelLaunchException(
                            kernel.Name, groupCount, groupSize, Info.Id, $"parameter '{argument.Parameter.Name}' has no int, uint or float value");
                }
            }

            parameters[i] = &values[i];
        }

        Enter();
        // Shared memory 0: the kernels declare theirs statically, and the cubin carries its size.
        int result = cuLaunchKernel(
            compiled.Function,
            (uint)groupCount.X, (uint)groupCount.Y, (uint)groupCount.Z,
            (uint)groupSize.X, (uint)groupSize.Y, (uint)groupSize.Z,
            0, handle, parameters, null);
        if (result != CUDA_SUCCESS)
        {
            throw new KernelLaunchException(kernel.Name, groupCount, groupSize, Info.Id, $"cuLaunchKernel returned {ErrorName(result)}");
        }
    }

    /// <summary>A CUDA graph of the stream's work (<see cref="CudaGraph.Capture"/>), or the work requeued with the driver's reason.</summary>
    protected override DeviceGraph CaptureCore(DeviceStream stream, Action<DeviceStream> queue) =>
        CudaGraph.Capture(this, (CudaStream)stream, queue);

    protected override void SynchronizeCore()
    {
        Enter();
        Check(cuCtxSynchronize(), "cuCtxSynchronize");
    }

    protected override void DisposeCore()
    {
        // Buffers, pinned memory and the streams made by CreateStream are gone by now (the base
        // disposed them); what is left belongs to the context.
        _ = cuCtxSetCurrent(_context);
        foreach (CudaKernel kernel in _kernels.Values)
        {
            _ = cuModuleUnload(kernel.Module);
        }

        _kernels.Clear();
        CudaEvent[] events;
        lock (_events)
        {
            events = _events.ToArray();
            _events.Clear();
        }

        foreach (CudaEvent pending in events)
        {
            pending.Destroy();
        }

        _defaultStream.Destroy();
        _ = cuDevicePrimaryCtxRelease_v2(_device);
    }

    /// <summary>Makes this device's context current on the calling thread; every driver call needs it.</summary>
    internal void Enter() => Check(cuCtxSetCurrent(_context), "cuCtxSetCurrent");

    /// <summary>
    /// <see cref="Enter"/> for release paths, which must not throw: a failure there is a sticky
    /// context error that the next synchronizing call reports anyway.
    /// </summary>
    internal void TryEnter() => _ = cuCtxSetCurrent(_context);

    internal void Check(int result, string call)
    {
        if (result != CUDA_SUCCESS)
        {
            throw new CudaException(call, result, Info.Id);
        }
    }

    internal void Track(CudaEvent created)
    {
        lock (_events)
        {
            _events.Add(created);
        }
    }

    /// <summary>Whether the event was still tracked, i.e. whether its handle is the caller's to destroy.</summary>
    internal bool Forget(CudaEvent disposed)
    {
        lock (_events)
        {
            return _events.Remove(disposed);
        }
    }

    /// <summary>For calls before there is a device object (discovery, opening).</summary>
    private static void CheckDriver(int result, string call)
    {
        if (result != CUDA_SUCCESS)
        {
            throw new CudaException(call, result);
        }
    }

    private void FreeHost(nint pointer)
    {
        TryEnter();
        _ = cuMemFreeHost((void*)pointer);
    }

    private int LoadModule(byte[] image, out nint module)
    {
        nint loaded = 0;
        int result;
        fixed (byte* data = image)
        {
            result = cuModuleLoadData(&loaded, data);
        }

        module = result == CUDA_SUCCESS ? loaded : 0;
        return result;
    }

    /// <summary>Compiles the kernel with NVRTC and loads the image; the driver refusing it is a build failure.</summary>
    private CudaModule Build(KernelDescriptor kernel, CudaTarget target)
    {
        byte[] image = target.Compile(kernel);
        int result = LoadModule(image, out nint module);
        if (result != CUDA_SUCCESS)
        {
            throw new KernelBuildException(
                kernel.Name, KernelDialect.Cuda, $"cuModuleLoadData rejected the {target} on {Info.Id} ({_computeCapability}): {ErrorName(result)}");
        }

        return new CudaModule(module, image);
    }

    private KernelBuildException NoTarget(KernelDescriptor kernel)
    {
        if (!Nvrtc.IsAvailable)
        {
            // Throws NvrtcUnavailableException, whose message says how to install NVRTC.
            _ = Nvrtc.Version;
        }

        IReadOnlyList<int> known = Nvrtc.SupportedArchitectures;
        string range = known.Count == 0 ? "no architecture" : $"sm_{known[0]} to sm_{known[^1]}";
        return new KernelBuildException(
            kernel.Name, KernelDialect.Cuda, $"NVRTC {Nvrtc.Version.Major}.{Nvrtc.Version.Minor} compiles for {range}; {Info.Id} is {_computeCapability}");
    }

    private static Description Describe(int ordinal, int driverVersion)
    {
        int device;
        CheckDriver(cuDeviceGet(&device, ordinal), "cuDeviceGet");
        const int NameBytes = 256;
        byte* name = stackalloc byte[NameBytes];
        CheckDriver(cuDeviceGetName(name, NameBytes, device), "cuDeviceGetName");
        nuint totalBytes;
        CheckDriver(cuDeviceTotalMem_v2(&totalBytes, device), "cuDeviceTotalMem");

        (int Major, int Minor) capability = (
            Attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            Attribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
        int multiprocessors = Attribute(device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        DevicePeaks peaks = PeaksFromAttributes(
            capability,
            multiprocessors,
            OptionalAttribute(device, CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
            OptionalAttribute(device, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
            OptionalAttribute(device, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH));

        var info = new DeviceInfo(
            Id: $"cuda:{ordinal}",
            Kind: DeviceKind.Cuda,
            Name: (Marshal.PtrToStringUTF8((nint)name) ?? $"CUDA device {ordinal}").Trim(),
            Driver: $"CUDA driver {VersionText(driverVersion)}, compute capability {capability.Major}.{capability.Minor}",
            IsGpu: true,
            MemoryBytes: (long)totalBytes,
            MaxAllocationBytes: (long)totalBytes,
            ComputeUnits: multiprocessors,
            MaxGroupSize: Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK),
            MaxGroupDimensions: new Int3(
                Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X),
                Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y),
                Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z)),
            MaxGroupCount: new Int3(
                Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X),
                Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y),
                Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z)),
            // The static limit (48 KiB): the kernels declare shared memory statically, and more needs an opt-in.
            SharedMemoryBytesPerGroup: Attribute(device, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
            Peaks: peaks)
        {
            Capabilities = DeviceCapabilities.Cuda(capability.Major, capability.Minor),
        };
        return new Description(info, device, capability);
    }

    private static int Attribute(int device, int attribute)
    {
        int value;
        CheckDriver(cuDeviceGetAttribute(&value, attribute, device), $"cuDeviceGetAttribute({attribute})");
        return value;
    }

    /// <summary>0 when the driver does not report it (clock attributes are deprecated in newer drivers).</summary>
    private static int OptionalAttribute(int device, int attribute)
    {
        int value;
        return cuDeviceGetAttribute(&value, attribute, device) == CUDA_SUCCESS ? value : 0;
    }

    private static DriverProbe ProbeDriver()
    {
        int version = 0;
        try
        {
            // Before cuInit, so that a failed init can still say which driver failed.
            if (cuDriverGetVersion(&version) != CUDA_SUCCESS)
            {
                version = 0;
            }

            int result = cuInit(0);
            if (result != CUDA_SUCCESS)
            {
                return new DriverProbe(version, 0, InitProblem(result, version));
            }

            int count;
            result = cuDeviceGetCount(&count);
            if (result != CUDA_SUCCESS)
            {
                return new DriverProbe(version, 0, $"no CUDA device: cuDeviceGetCount failed with {ErrorName(result)} (libcuda.so.1, CUDA {VersionText(version)})");
            }

            return count > 0
                ? new DriverProbe(version, count, null)
                : new DriverProbe(version, 0, $"no CUDA device: the NVIDIA driver (libcuda.so.1, CUDA {VersionText(version)}) reports 0 GPUs; check nvidia-smi and CUDA_VISIBLE_DEVICES");
        }
        catch (DllNotFoundException)
        {
            return new DriverProbe(0, 0, $"no CUDA device: {CudaNative.Library} not found (the NVIDIA driver is not installed; {InstallHint})");
        }
        catch (EntryPointNotFoundException e)
        {
            return new DriverProbe(version, 0, $"no CUDA device: {CudaNative.Library} is too old ({FirstLine(e.Message)}); install a driver for CUDA 11 or later ({InstallHint})");
        }
    }

    /// <summary>One line on why cuInit failed, by the result's meaning.</summary>
    internal static string InitProblem(int result, int driverVersion) => result switch
    {
        CUDA_ERROR_NO_DEVICE =>
            $"no CUDA device: the NVIDIA driver (libcuda.so.1, CUDA {VersionText(driverVersion)}) found no GPU ({KnownErrorName(result)}); check nvidia-smi and CUDA_VISIBLE_DEVICES",
        CUDA_ERROR_STUB_LIBRARY =>
            $"no CUDA device: the libcuda.so.1 found is the CUDA toolkit's stub, not the driver ({KnownErrorName(result)}); take the stubs directory off LD_LIBRARY_PATH, or install the driver ({InstallHint})",
        _ =>
            $"no CUDA device: cuInit failed with {ErrorName(result)} (libcuda.so.1, CUDA {VersionText(driverVersion)}); check that the NVIDIA kernel module is loaded (nvidia-smi)",
    };

    /// <summary>12040 → "12.4".</summary>
    internal static string VersionText(int driverVersion) =>
        driverVersion > 0 ? $"{driverVersion / 1000}.{driverVersion % 1000 / 10}" : "version unknown";

    private static string FirstLine(string message)
    {
        int end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }

    /// <summary>What cuInit and cuDeviceGetCount said, once per process.</summary>
    private sealed record DriverProbe(int Version, int DeviceCount, string? Problem);

    private sealed record Description(DeviceInfo Info, int Device, (int Major, int Minor) ComputeCapability);

    private sealed record CudaKernel(nint Module, nint Function);

    /// <summary>A loaded module and the image it was loaded from, which the kernel cache keeps.</summary>
    private sealed record CudaModule(nint Handle, byte[] Image);
}

/// <summary>One cuMemAlloc allocation (a CUdeviceptr); 0 for an empty buffer.</summary>
internal sealed class CudaMemory(CudaDevice device, ulong pointer) : DeviceMemory
{
    public ulong Pointer { get; } = pointer;

    protected internal override void Free()
    {
        if (Pointer != 0)
        {
            device.TryEnter();
            _ = CudaNative.cuMemFree_v2(Pointer);
        }
    }
}
