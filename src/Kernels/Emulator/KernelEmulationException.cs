namespace GpuViT.Kernels;

/// <summary>
/// A kernel failed on the emulator: a thread threw (the exception is the
/// <see cref="Exception.InnerException"/>), or the threads of a group did not all reach a barrier.
/// The message names the kernel, the group and, where one thread failed, that thread.
/// </summary>
public sealed class KernelEmulationException : Exception
{
    public KernelEmulationException(string message)
        : base(message)
    {
    }

    public KernelEmulationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal KernelEmulationException(string message, string kernelName, Int3 group, Int3? thread, Exception? innerException)
        : base(message, innerException)
    {
        KernelName = kernelName;
        Group = group;
        Thread = thread;
    }

    /// <summary>The kernel that failed.</summary>
    public string? KernelName { get; }

    /// <summary>The index of the group that failed.</summary>
    public Int3? Group { get; }

    /// <summary>The local index of the thread that threw; null for a failure of the whole group (barrier divergence).</summary>
    public Int3? Thread { get; }
}
