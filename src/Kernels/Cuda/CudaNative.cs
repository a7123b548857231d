using System.Runtime.InteropServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.Cuda;

/// <summary>
/// The CUDA driver API (libcuda.so.1, installed by the NVIDIA driver, not by the toolkit). Only the
/// entry points <see cref="CudaDevice"/> and its streams, events and graphs use, by their exported
/// names: where cuda.h maps a name to a versioned symbol (<c>#define cuMemAlloc cuMemAlloc_v2</c>)
/// the versioned one is imported, since the unversioned export is the old 32-bit-size ABI. Handles
/// (CUcontext, CUstream, CUevent, CUmodule, CUfunction, CUgraph, CUgraphExec) are <see cref="nint"/>;
/// CUdeviceptr is <see cref="ulong"/>; CUdevice is an <see cref="int"/> ordinal handle; every call
/// returns a CUresult (<see cref="CUDA_SUCCESS"/> = 0).
/// </summary>
internal static unsafe partial class CudaNative
{
    /// <summary>The driver's soname; the unversioned libcuda.so is a development link (often the toolkit's stub).</summary>
    public const string Library = "libcuda.so.1";

    // CUresult values the runtime branches on; ErrorName knows the rest.
    public const int CUDA_SUCCESS = 0;
    public const int CUDA_ERROR_OUT_OF_MEMORY = 2;
    public const int CUDA_ERROR_STUB_LIBRARY = 34;
    public const int CUDA_ERROR_NO_DEVICE = 100;
    public const int CUDA_ERROR_NOT_READY = 600;
    public const int CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900;
    public const int CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901;

    // CUdevice_attribute
    public const int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1;
    public const int CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X = 2;
    public const int CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y = 3;
    public const int CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z = 4;
    public const int CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X = 5;
    public const int CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y = 6;
    public const int CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z = 7;
    public const int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
    public const int CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13;
    public const int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public const int CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36;
    public const int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

    /// <summary>cuStreamCreate: no implicit synchronization with the legacy NULL stream.</summary>
    public const uint CU_STREAM_NON_BLOCKING = 0x1;

    /// <summary>
    /// CUstreamCaptureMode for cuStreamBeginCapture_v2: unsafe calls (a synchronization, an
    /// allocation) from the capturing thread fail and invalidate the capture, while other threads,
    /// working on other streams, are not restricted (GLOBAL = 0 would restrict them too; RELAXED =
    /// 2 would let an allocation inside the capture pass unnoticed).
    /// </summary>
    public const int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

    /// <summary>cuEventCreate: a plain event, which records time stamps (CU_EVENT_DISABLE_TIMING would not).</summary>
    public const uint CU_EVENT_DEFAULT = 0x0;

    [LibraryImport(Library)]
    public static partial int cuInit(uint flags);

    /// <summary>1000 × major + 10 × minor: 12040 is CUDA 12.4. Works before cuInit.</summary>
    [LibraryImport(Library)]
    public static partial int cuDriverGetVersion(int* version);

    [LibraryImport(Library)]
    public static partial int cuDeviceGetCount(int* count);

    [LibraryImport(Library)]
    public static partial int cuDeviceGet(int* device, int ordinal);

    [LibraryImport(Library)]
    public static partial int cuDeviceGetName(byte* name, int length, int device);

    [LibraryImport(Library)]
    public static partial int cuDeviceTotalMem_v2(nuint* bytes, int device);

    [LibraryImport(Library)]
    public static partial int cuDeviceGetAttribute(int* value, int attribute, int device);

    [LibraryImport(Library)]
    public static partial int cuDevicePrimaryCtxRetain(nint* context, int device);

    [LibraryImport(Library)]
    public static partial int cuDevicePrimaryCtxRelease_v2(int device);

    [LibraryImport(Library)]
    public static partial int cuCtxSetCurrent(nint context);

    [LibraryImport(Library)]
    public static partial int cuCtxSynchronize();

    [LibraryImport(Library)]
    public static partial int cuMemAlloc_v2(ulong* pointer, nuint bytes);

    [LibraryImport(Library)]
    public static partial int cuMemFree_v2(ulong pointer);

    [LibraryImport(Library)]
    public static partial int cuMemGetInfo_v2(nuint* free, nuint* total);

    [LibraryImport(Library)]
    public static partial int cuMemAllocHost_v2(void** pointer, nuint bytes);

    [LibraryImport(Library)]
    public static partial int cuMemFreeHost(void* pointer);

    [LibraryImport(Library)]
    public static partial int cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, nint stream);

    [LibraryImport(Library)]
    public static partial int cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(Library)]
    public static partial int cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, nint stream);

    [LibraryImport(Library)]
    public static partial int cuStreamCreate(nint* stream, uint flags);

    [LibraryImport(Library)]
    public static partial int cuStreamDestroy_v2(nint stream);

    [LibraryImport(Library)]
    public static partial int cuStreamSynchronize(nint stream);

    /// <summary>Flags must be 0.</summary>
    [LibraryImport(Library)]
    public static partial int cuStreamWaitEvent(nint stream, nint @event, uint flags);

    [LibraryImport(Library)]
    public static partial int cuEventCreate(nint* @event, uint flags);

    [LibraryImport(Library)]
    public static partial int cuEventRecord(nint @event, nint stream);

    [LibraryImport(Library)]
    public static partial int cuEventSynchronize(nint @event);

    /// <summary>CUDA_SUCCESS when done, CUDA_ERROR_NOT_READY while pending.</summary>
    [LibraryImport(Library)]
    public static partial int cuEventQuery(nint @event);

    [LibraryImport(Library)]
    public static partial int cuEventElapsedTime(float* milliseconds, nint start, nint end);

    [LibraryImport(Library)]
    public static partial int cuEventDestroy_v2(nint @event);

    /// <summary>
    /// Starts recording the work queued on <paramref name="stream"/> into a graph instead of running
    /// it (cuda.h maps cuStreamBeginCapture to this export). The legacy NULL stream cannot be captured;
    /// this runtime's streams are all created.
    /// </summary>
    [LibraryImport(Library)]
    public static partial int cuStreamBeginCapture_v2(nint stream, int mode);

    /// <summary>
    /// Ends the capture begun on <paramref name="stream"/>, on the same thread (not RELAXED), and
    /// gives the graph; a capture invalidated by an error gives CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
    /// and a NULL graph. Called even after a failure, since the stream stays capturing until then.
    /// </summary>
    [LibraryImport(Library)]
    public static partial int cuStreamEndCapture(nint stream, nint* graph);

    /// <summary>Makes an executable graph; flags 0. Since CUDA 11.4; CUDA 12's cuGraphInstantiate maps to it.</summary>
    [LibraryImport(Library)]
    public static partial int cuGraphInstantiateWithFlags(nint* graphExec, nint graph, ulong flags);

    /// <summary>Queues the whole executable graph on <paramref name="stream"/>, in order with the stream's other work.</summary>
    [LibraryImport(Library)]
    public static partial int cuGraphLaunch(nint graphExec, nint stream);

    /// <summary>An executable graph still running is not stopped: the driver frees it when it completes.</summary>
    [LibraryImport(Library)]
    public static partial int cuGraphExecDestroy(nint graphExec);

    [LibraryImport(Library)]
    public static partial int cuGraphDestroy(nint graph);

    /// <summary>Takes a cubin (ELF) or NUL-terminated PTX text, which the driver JIT-compiles.</summary>
    [LibraryImport(Library)]
    public static partial int cuModuleLoadData(nint* module, void* image);

    [LibraryImport(Library)]
    public static partial int cuModuleUnload(nint module);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cuModuleGetFunction(nint* function, nint module, string name);

    /// <summary>
    /// <paramref name="parameters"/> holds one pointer per kernel parameter, each to that
    /// argument's value (a CUdeviceptr, an int, a float); the driver reads each by the size the
    /// kernel declares.
    /// </summary>
    [LibraryImport(Library)]
    public static partial int cuLaunchKernel(
        nint function,
        uint gridX, uint gridY, uint gridZ,
        uint blockX, uint blockY, uint blockZ,
        uint sharedMemoryBytes, nint stream, void** parameters, void** extra);

    /// <summary>Points at a static string owned by the driver, hence a pointer and not a marshalled string.</summary>
    [LibraryImport(Library)]
    public static partial int cuGetErrorName(int result, byte** name);

    /// <summary>
    /// The CUresult's name, e.g. CUDA_ERROR_OUT_OF_MEMORY: the driver's own when it loads, else
    /// from the table below (so messages stay readable when the driver is the problem).
    /// </summary>
    public static string ErrorName(int result)
    {
        try
        {
            byte* name;
            if (cuGetErrorName(result, &name) == CUDA_SUCCESS && name is not null)
            {
                return Marshal.PtrToStringUTF8((nint)name) ?? KnownErrorName(result);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }

        return KnownErrorName(result);
    }

    /// <summary>The names of the CUresults this runtime is likely to meet (cuda.h, CUDA 12).</summary>
    public static string KnownErrorName(int result) => result switch
    {
        0 => "CUDA_SUCCESS",
        1 => "CUDA_ERROR_INVALID_VALUE",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        4 => "CUDA_ERROR_DEINITIALIZED",
        34 => "CUDA_ERROR_STUB_LIBRARY",
        46 => "CUDA_ERROR_DEVICE_UNAVAILABLE",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        102 => "CUDA_ERROR_DEVICE_NOT_LICENSED",
        200 => "CUDA_ERROR_INVALID_IMAGE",
        201 => "CUDA_ERROR_INVALID_CONTEXT",
        209 => "CUDA_ERROR_NO_BINARY_FOR_GPU",
        218 => "CUDA_ERROR_INVALID_PTX",
        221 => "CUDA_ERROR_JIT_COMPILER_NOT_FOUND",
        222 => "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        223 => "CUDA_ERROR_JIT_COMPILATION_DISABLED",
        300 => "CUDA_ERROR_INVALID_SOURCE",
        400 => "CUDA_ERROR_INVALID_HANDLE",
        401 => "CUDA_ERROR_ILLEGAL_STATE",
        500 => "CUDA_ERROR_NOT_FOUND",
        600 => "CUDA_ERROR_NOT_READY",
        700 => "CUDA_ERROR_ILLEGAL_ADDRESS",
        701 => "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        702 => "CUDA_ERROR_LAUNCH_TIMEOUT",
        703 => "CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING",
        709 => "CUDA_ERROR_CONTEXT_IS_DESTROYED",
        710 => "CUDA_ERROR_ASSERT",
        715 => "CUDA_ERROR_ILLEGAL_INSTRUCTION",
        716 => "CUDA_ERROR_MISALIGNED_ADDRESS",
        717 => "CUDA_ERROR_INVALID_ADDRESS_SPACE",
        718 => "CUDA_ERROR_INVALID_PC",
        719 => "CUDA_ERROR_LAUNCH_FAILED",
        800 => "CUDA_ERROR_NOT_PERMITTED",
        801 => "CUDA_ERROR_NOT_SUPPORTED",
        802 => "CUDA_ERROR_SYSTEM_NOT_READY",
        803 => "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        804 => "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
        900 => "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
        901 => "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
        902 => "CUDA_ERROR_STREAM_CAPTURE_MERGE",
        903 => "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED",
        904 => "CUDA_ERROR_STREAM_CAPTURE_UNJOINED",
        905 => "CUDA_ERROR_STREAM_CAPTURE_ISOLATION",
        906 => "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT",
        907 => "CUDA_ERROR_CAPTURED_EVENT",
        908 => "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => $"CUresult {result}",
    };
}
