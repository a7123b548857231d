using System.Text;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.OpenCL.OpenCLNative;

namespace GpuViT.Kernels.OpenCL;

/// <summary>Platforms, devices and their attributes: the clGet*Info calls, decoded.</summary>
internal static unsafe class OpenCLQueries
{
    public const string InstallHint = "Debian: apt-get install ocl-icd-libopencl1 pocl-opencl-icd";

    /// <summary>
    /// Held, process-wide, around listing platforms and devices, creating a context and building a
    /// program. PoCL 3.1 (Debian 12's) is not safe doing these at once on several threads: a device
    /// listed while another thread built a program came back missing ("found none"), and runs
    /// crashed, when two test classes opened and built at the same time. Builds on PoCL are
    /// CPU-bound anyway, and a GPU driver's are cached.
    /// </summary>
    public static readonly object DriverGate = new();

    /// <summary>The platforms, or null with one line saying why there are none.</summary>
    public static nint[]? TryGetPlatforms(out string problem)
    {
        uint count;
        int status;
        try
        {
            status = clGetPlatformIDs(0, null, &count);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            problem = $"no OpenCL platform: {OpenCLNative.Library} not found ({InstallHint})";
            return null;
        }

        // The ICD loader reports CL_PLATFORM_NOT_FOUND_KHR when no vendor file in /etc/OpenCL/vendors loads.
        if (status == CL_PLATFORM_NOT_FOUND_KHR || (status == CL_SUCCESS && count == 0))
        {
            problem = $"no OpenCL platform: {OpenCLNative.Library} loaded, but no driver is registered in /etc/OpenCL/vendors ({InstallHint})";
            return null;
        }

        if (status != CL_SUCCESS)
        {
            problem = $"no OpenCL platform: clGetPlatformIDs failed with {ErrorName(status)} ({InstallHint})";
            return null;
        }

        var platforms = new nint[count];
        fixed (nint* list = platforms)
        {
            Check(clGetPlatformIDs(count, list, null), "clGetPlatformIDs");
        }

        problem = "";
        return platforms;
    }

    public static nint[] GetDevices(nint platform)
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

    /// <summary>What the device API needs to know about one device, from its attributes.</summary>
    public static DeviceInfo Describe(int platformIndex, int deviceIndex, nint platform, nint device)
    {
        // Sizes are size_t and cl_ulong; the record holds int and long, so clamp rather than wrap.
        uint dimensions = DeviceValue<uint>(device, CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS);
        var itemSizes = new nuint[Math.Max(dimensions, 3u)];
        fixed (nuint* sizes = itemSizes)
        {
            Check(clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_ITEM_SIZES, (nuint)(dimensions * sizeof(nuint)), sizes, null), "clGetDeviceInfo");
        }

        for (uint d = dimensions; d < itemSizes.Length; d++)
        {
            itemSizes[d] = 1;
        }

        return new DeviceInfo(
            Id: $"opencl:{platformIndex}.{deviceIndex}",
            Kind: DeviceKind.OpenCL,
            Name: DeviceString(device, CL_DEVICE_NAME),
            Driver: $"{PlatformString(platform, CL_PLATFORM_VERSION)}; driver {DeviceString(device, CL_DRIVER_VERSION)}",
            IsGpu: (DeviceValue<ulong>(device, CL_DEVICE_TYPE) & CL_DEVICE_TYPE_GPU) != 0,
            MemoryBytes: ClampLong(DeviceValue<ulong>(device, CL_DEVICE_GLOBAL_MEM_SIZE)),
            MaxAllocationBytes: ClampLong(DeviceValue<ulong>(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE)),
            ComputeUnits: (int)Math.Min(DeviceValue<uint>(device, CL_DEVICE_MAX_COMPUTE_UNITS), int.MaxValue),
            MaxGroupSize: ClampInt(DeviceValue<nuint>(device, CL_DEVICE_MAX_WORK_GROUP_SIZE)),
            MaxGroupDimensions: new Int3(ClampInt(itemSizes[0]), ClampInt(itemSizes[1]), ClampInt(itemSizes[2])),
            // OpenCL bounds the global size, not the number of groups; the launch checks keep it within int.
            MaxGroupCount: new Int3(int.MaxValue, int.MaxValue, int.MaxValue),
            SharedMemoryBytesPerGroup: ClampLong(DeviceValue<ulong>(device, CL_DEVICE_LOCAL_MEM_SIZE)),
            // The attributes give no reliable FP32 lane count or memory clock; `gpuvit devices --probe` measures.
            Peaks: DevicePeaks.Unknown);
    }

    public static string PlatformString(nint platform, uint parameter)
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

    public static string DeviceString(nint device, uint parameter)
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

    public static T DeviceValue<T>(nint device, uint parameter)
        where T : unmanaged
    {
        T value;
        Check(clGetDeviceInfo(device, parameter, (nuint)sizeof(T), &value, null), "clGetDeviceInfo");
        return value;
    }

    /// <summary>A NUL-terminated info string; drivers pad some names with spaces.</summary>
    public static string DecodeString(byte[] value)
    {
        int end = Array.IndexOf(value, (byte)0);
        return Encoding.UTF8.GetString(value, 0, end < 0 ? value.Length : end).Trim();
    }

    public static void Check(int status, string call)
    {
        if (status != CL_SUCCESS)
        {
            throw new OpenCLException($"{call} failed: {ErrorName(status)}", status);
        }
    }

    private static int ClampInt(nuint value) => (int)Math.Min(value, (nuint)int.MaxValue);

    private static long ClampLong(ulong value) => (long)Math.Min(value, long.MaxValue);
}
