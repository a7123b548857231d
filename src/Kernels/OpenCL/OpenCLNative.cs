using System.Runtime.InteropServices;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.OpenCL;

/// <summary>
/// The OpenCL 1.2 C API, bound through the ICD loader (libOpenCL.so.1), which dispatches to every
/// installed platform (PoCL, vendor drivers). Only the entry points the runtime uses; object
/// handles are plain <see cref="nint"/> here and owned by <see cref="OpenCLHandle"/>.
/// </summary>
internal static unsafe partial class OpenCLNative
{
    /// <summary>The ICD loader's soname (ocl-icd-libopencl1 on Debian); the unversioned name is a -dev symlink.</summary>
    public const string Library = "libOpenCL.so.1";

    // Status codes: the ones the runtime branches on; ErrorName knows the rest.
    public const int CL_SUCCESS = 0;
    public const int CL_DEVICE_NOT_FOUND = -1;
    public const int CL_MEM_OBJECT_ALLOCATION_FAILURE = -4;
    public const int CL_OUT_OF_RESOURCES = -5;
    public const int CL_OUT_OF_HOST_MEMORY = -6;
    public const int CL_PROFILING_INFO_NOT_AVAILABLE = -7;
    public const int CL_BUILD_PROGRAM_FAILURE = -11;
    public const int CL_INVALID_WORK_GROUP_SIZE = -54;
    public const int CL_INVALID_BUFFER_SIZE = -61;
    public const int CL_PLATFORM_NOT_FOUND_KHR = -1001;

    public const uint CL_FALSE = 0;
    public const uint CL_TRUE = 1;

    // clGetPlatformInfo
    public const uint CL_PLATFORM_VERSION = 0x0901;
    public const uint CL_PLATFORM_NAME = 0x0902;

    // clGetDeviceIDs: device types (cl_device_type bitfield)
    public const ulong CL_DEVICE_TYPE_GPU = 1 << 2;
    public const ulong CL_DEVICE_TYPE_ALL = 0xFFFFFFFF;

    // clGetDeviceInfo
    public const uint CL_DEVICE_TYPE = 0x1000;
    public const uint CL_DEVICE_MAX_COMPUTE_UNITS = 0x1002;
    public const uint CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS = 0x1003;
    public const uint CL_DEVICE_MAX_WORK_GROUP_SIZE = 0x1004;
    public const uint CL_DEVICE_MAX_WORK_ITEM_SIZES = 0x1005;
    public const uint CL_DEVICE_MAX_MEM_ALLOC_SIZE = 0x1010;
    public const uint CL_DEVICE_GLOBAL_MEM_SIZE = 0x101F;
    public const uint CL_DEVICE_LOCAL_MEM_SIZE = 0x1023;
    public const uint CL_DEVICE_NAME = 0x102B;
    public const uint CL_DRIVER_VERSION = 0x102D;
    public const uint CL_DEVICE_OPENCL_C_VERSION = 0x103D;

    // clCreateContext properties
    public const nint CL_CONTEXT_PLATFORM = 0x1084;

    // clCreateCommandQueue properties (cl_command_queue_properties bitfield)
    public const ulong CL_QUEUE_PROFILING_ENABLE = 1 << 1;

    // clCreateBuffer flags (cl_mem_flags bitfield)
    public const ulong CL_MEM_READ_WRITE = 1 << 0;

    // clGetProgramInfo
    public const uint CL_PROGRAM_BINARY_SIZES = 0x1165;
    public const uint CL_PROGRAM_BINARIES = 0x1166;

    // clGetProgramBuildInfo
    public const uint CL_PROGRAM_BUILD_LOG = 0x1183;

    // clGetKernelInfo, clGetKernelWorkGroupInfo
    public const uint CL_KERNEL_NUM_ARGS = 0x1191;
    public const uint CL_KERNEL_WORK_GROUP_SIZE = 0x11B0;

    // clGetEventInfo: CL_EVENT_COMMAND_EXECUTION_STATUS is CL_COMPLETE, a later state, or a negative error
    public const uint CL_EVENT_COMMAND_EXECUTION_STATUS = 0x11D3;
    public const int CL_COMPLETE = 0;

    // clGetEventProfilingInfo: device time stamps in nanoseconds
    public const uint CL_PROFILING_COMMAND_START = 0x1282;
    public const uint CL_PROFILING_COMMAND_END = 0x1283;

    [LibraryImport(Library)]
    public static partial int clGetPlatformIDs(uint numEntries, nint* platforms, uint* numPlatforms);

    [LibraryImport(Library)]
    public static partial int clGetPlatformInfo(nint platform, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    [LibraryImport(Library)]
    public static partial int clGetDeviceIDs(nint platform, ulong deviceType, uint numEntries, nint* devices, uint* numDevices);

    [LibraryImport(Library)]
    public static partial int clGetDeviceInfo(nint device, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    [LibraryImport(Library)]
    public static partial nint clCreateContext(nint* properties, uint numDevices, nint* devices, nint notify, nint userData, int* errorCode);

    /// <summary>The 1.2 entry point (deprecated, not removed, in 2.0+): it is the one every 1.2 device has.</summary>
    [LibraryImport(Library)]
    public static partial nint clCreateCommandQueue(nint context, nint device, ulong properties, int* errorCode);

    [LibraryImport(Library)]
    public static partial nint clCreateProgramWithSource(nint context, uint count, byte** strings, nuint* lengths, int* errorCode);

    [LibraryImport(Library)]
    public static partial int clBuildProgram(nint program, uint numDevices, nint* devices, byte* options, nint notify, nint userData);

    /// <summary>Loads a binary that <see cref="clGetProgramInfo"/> returned earlier (the kernel cache); it still needs clBuildProgram.</summary>
    [LibraryImport(Library)]
    public static partial nint clCreateProgramWithBinary(
        nint context, uint numDevices, nint* devices, nuint* lengths, byte** binaries, int* binaryStatus, int* errorCode);

    [LibraryImport(Library)]
    public static partial int clGetProgramInfo(nint program, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    [LibraryImport(Library)]
    public static partial int clGetProgramBuildInfo(nint program, nint device, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint clCreateKernel(nint program, string kernelName, int* errorCode);

    [LibraryImport(Library)]
    public static partial int clGetKernelInfo(nint kernel, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    [LibraryImport(Library)]
    public static partial int clGetKernelWorkGroupInfo(
        nint kernel, nint device, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    [LibraryImport(Library)]
    public static partial int clSetKernelArg(nint kernel, uint argIndex, nuint argSize, void* argValue);

    [LibraryImport(Library)]
    public static partial nint clCreateBuffer(nint context, ulong flags, nuint size, void* hostPointer, int* errorCode);

    [LibraryImport(Library)]
    public static partial int clEnqueueWriteBuffer(
        nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* source,
        uint waitCount, nint* waitList, nint* completion);

    [LibraryImport(Library)]
    public static partial int clEnqueueReadBuffer(
        nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* destination,
        uint waitCount, nint* waitList, nint* completion);

    [LibraryImport(Library)]
    public static partial int clEnqueueCopyBuffer(
        nint queue, nint source, nint destination, nuint sourceOffset, nuint destinationOffset, nuint size,
        uint waitCount, nint* waitList, nint* completion);

    [LibraryImport(Library)]
    public static partial int clEnqueueNDRangeKernel(
        nint queue, nint kernel, uint workDimensions, nuint* globalOffset, nuint* globalSize, nuint* localSize,
        uint waitCount, nint* waitList, nint* completion);

    /// <summary>An event that completes when everything queued before it (empty wait list) has completed.</summary>
    [LibraryImport(Library)]
    public static partial int clEnqueueMarkerWithWaitList(nint queue, uint waitCount, nint* waitList, nint* marker);

    /// <summary>Later commands on the queue start only after the listed events (another queue's) complete.</summary>
    [LibraryImport(Library)]
    public static partial int clEnqueueBarrierWithWaitList(nint queue, uint waitCount, nint* waitList, nint* barrier);

    [LibraryImport(Library)]
    public static partial int clWaitForEvents(uint count, nint* events);

    [LibraryImport(Library)]
    public static partial int clGetEventInfo(nint evt, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    [LibraryImport(Library)]
    public static partial int clGetEventProfilingInfo(nint evt, uint paramName, nuint valueSize, void* value, nuint* valueSizeRet);

    /// <summary>Submits what is queued to the device without waiting for it.</summary>
    [LibraryImport(Library)]
    public static partial int clFlush(nint queue);

    [LibraryImport(Library)]
    public static partial int clFinish(nint queue);

    [LibraryImport(Library)]
    public static partial int clReleaseContext(nint context);

    [LibraryImport(Library)]
    public static partial int clReleaseCommandQueue(nint queue);

    [LibraryImport(Library)]
    public static partial int clReleaseProgram(nint program);

    [LibraryImport(Library)]
    public static partial int clReleaseKernel(nint kernel);

    [LibraryImport(Library)]
    public static partial int clReleaseMemObject(nint memory);

    [LibraryImport(Library)]
    public static partial int clRetainEvent(nint evt);

    [LibraryImport(Library)]
    public static partial int clReleaseEvent(nint evt);

    /// <summary>The CL_* name of a status code, e.g. -54 → CL_INVALID_WORK_GROUP_SIZE.</summary>
    public static string ErrorName(int code) => code switch
    {
        0 => "CL_SUCCESS",
        -1 => "CL_DEVICE_NOT_FOUND",
        -2 => "CL_DEVICE_NOT_AVAILABLE",
        -3 => "CL_COMPILER_NOT_AVAILABLE",
        -4 => "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        -5 => "CL_OUT_OF_RESOURCES",
        -6 => "CL_OUT_OF_HOST_MEMORY",
        -7 => "CL_PROFILING_INFO_NOT_AVAILABLE",
        -8 => "CL_MEM_COPY_OVERLAP",
        -9 => "CL_IMAGE_FORMAT_MISMATCH",
        -10 => "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        -11 => "CL_BUILD_PROGRAM_FAILURE",
        -12 => "CL_MAP_FAILURE",
        -13 => "CL_MISALIGNED_SUB_BUFFER_OFFSET",
        -14 => "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        -15 => "CL_COMPILE_PROGRAM_FAILURE",
        -16 => "CL_LINKER_NOT_AVAILABLE",
        -17 => "CL_LINK_PROGRAM_FAILURE",
        -18 => "CL_DEVICE_PARTITION_FAILED",
        -19 => "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        -30 => "CL_INVALID_VALUE",
        -31 => "CL_INVALID_DEVICE_TYPE",
        -32 => "CL_INVALID_PLATFORM",
        -33 => "CL_INVALID_DEVICE",
        -34 => "CL_INVALID_CONTEXT",
        -35 => "CL_INVALID_QUEUE_PROPERTIES",
        -36 => "CL_INVALID_COMMAND_QUEUE",
        -37 => "CL_INVALID_HOST_PTR",
        -38 => "CL_INVALID_MEM_OBJECT",
        -39 => "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR",
        -40 => "CL_INVALID_IMAGE_SIZE",
        -41 => "CL_INVALID_SAMPLER",
        -42 => "CL_INVALID_BINARY",
        -43 => "CL_INVALID_BUILD_OPTIONS",
        -44 => "CL_INVALID_PROGRAM",
        -45 => "CL_INVALID_PROGRAM_EXECUTABLE",
        -46 => "CL_INVALID_KERNEL_NAME",
        -47 => "CL_INVALID_KERNEL_DEFINITION",
        -48 => "CL_INVALID_KERNEL",
        -49 => "CL_INVALID_ARG_INDEX",
        -50 => "CL_INVALID_ARG_VALUE",
        -51 => "CL_INVALID_ARG_SIZE",
        -52 => "CL_INVALID_KERNEL_ARGS",
        -53 => "CL_INVALID_WORK_DIMENSION",
        -54 => "CL_INVALID_WORK_GROUP_SIZE",
        -55 => "CL_INVALID_WORK_ITEM_SIZE",
        -56 => "CL_INVALID_GLOBAL_OFFSET",
        -57 => "CL_INVALID_EVENT_WAIT_LIST",
        -58 => "CL_INVALID_EVENT",
        -59 => "CL_INVALID_OPERATION",
        -60 => "CL_INVALID_GL_OBJECT",
        -61 => "CL_INVALID_BUFFER_SIZE",
        -62 => "CL_INVALID_MIP_LEVEL",
        -63 => "CL_INVALID_GLOBAL_WORK_SIZE",
        -64 => "CL_INVALID_PROPERTY",
        -65 => "CL_INVALID_IMAGE_DESCRIPTOR",
        -66 => "CL_INVALID_COMPILER_OPTIONS",
        -67 => "CL_INVALID_LINKER_OPTIONS",
        -68 => "CL_INVALID_DEVICE_PARTITION_COUNT",
        -69 => "CL_INVALID_PIPE_SIZE",
        -70 => "CL_INVALID_DEVICE_QUEUE",
        -71 => "CL_INVALID_SPEC_ID",
        -72 => "CL_MAX_SIZE_RESTRICTION_EXCEEDED",
        -1001 => "CL_PLATFORM_NOT_FOUND_KHR",
        _ => $"CL error {code}",
    };
}

/// <summary>Which clRelease* frees an <see cref="OpenCLHandle"/>.</summary>
internal enum OpenCLObjectKind
{
    Context,
    CommandQueue,
    Program,
    Kernel,
    Memory,
    Event,
}

/// <summary>
/// Owns one reference to an OpenCL object and releases it exactly once, on Dispose or, if a caller
/// forgot, on finalization.
/// </summary>
internal sealed class OpenCLHandle : SafeHandle
{
    public OpenCLHandle(nint handle, OpenCLObjectKind kind)
        : base(invalidHandleValue: 0, ownsHandle: true)
    {
        Kind = kind;
        SetHandle(handle);
    }

    public OpenCLObjectKind Kind { get; }

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw handle, for calls made while the owner keeps this handle alive.</summary>
    public nint Value => handle;

    /// <summary>
    /// Keeps the object alive across a native call even if another thread disposes the handle
    /// meanwhile; throws <see cref="ObjectDisposedException"/> if it is already disposed.
    /// </summary>
    public Lease Acquire()
    {
        bool added = false;
        DangerousAddRef(ref added);
        return new Lease(this);
    }

    protected override bool ReleaseHandle() => Kind switch
    {
        OpenCLObjectKind.Context => OpenCLNative.clReleaseContext(handle),
        OpenCLObjectKind.CommandQueue => OpenCLNative.clReleaseCommandQueue(handle),
        OpenCLObjectKind.Program => OpenCLNative.clReleaseProgram(handle),
        OpenCLObjectKind.Kernel => OpenCLNative.clReleaseKernel(handle),
        OpenCLObjectKind.Memory => OpenCLNative.clReleaseMemObject(handle),
        OpenCLObjectKind.Event => OpenCLNative.clReleaseEvent(handle),
        _ => OpenCLNative.CL_SUCCESS,
    } == OpenCLNative.CL_SUCCESS;

    /// <summary>One reference taken by <see cref="Acquire"/>; disposing it gives the reference back.</summary>
    public readonly ref struct Lease
    {
        private readonly OpenCLHandle _owner;

        internal Lease(OpenCLHandle owner) => _owner = owner;

        public nint Value => _owner.handle;

        public void Dispose() => _owner.DangerousRelease();
    }
}
