using GpuViT.Kernels.Runtime;

namespace GpuViT.Kernels.OpenCL;

/// <summary>
/// An OpenCL call failed for a reason other than those with their own exception (out of memory,
/// a build or launch failure); the message names the call, the device and the status.
/// </summary>
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
