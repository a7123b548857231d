namespace GpuViT.Kernels.Emulator;

/// <summary>One launch on the emulator: what to run, how groups are handed out, the first failure.</summary>
internal sealed class EmulatedLaunch
{
    private long _nextGroup;
    private KernelEmulationException? _failure;

    public EmulatedLaunch(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, object[] arguments)
    {
        Kernel = kernel;
        GroupCount = groupCount;
        GroupSize = groupSize;
        Arguments = arguments;
        Body = kernel.Body;
        GroupTotal = groupCount.Product;
        ThreadsPerGroup = (int)groupSize.Product;
    }

    public KernelDescriptor Kernel { get; }

    public KernelBody Body { get; }

    public Int3 GroupCount { get; }

    public Int3 GroupSize { get; }

    /// <summary>The bound arguments (views and boxed scalars), shared read-only by every thread.</summary>
    public object[] Arguments { get; }

    public long GroupTotal { get; }

    public int ThreadsPerGroup { get; }

    public bool HasFailed => Volatile.Read(ref _failure) is not null;

    /// <summary>The next group not yet taken by a worker, or -1 when all are taken or the launch failed.</summary>
    public long TakeGroup()
    {
        if (HasFailed)
        {
            return -1;
        }

        long group = Interlocked.Increment(ref _nextGroup) - 1;
        return group < GroupTotal ? group : -1;
    }

    /// <summary>Groups are numbered with X fastest, as CUDA and OpenCL linearize them.</summary>
    public Int3 GroupAt(long linear) => new(
        (int)(linear % GroupCount.X),
        (int)(linear / GroupCount.X % GroupCount.Y),
        (int)(linear / ((long)GroupCount.X * GroupCount.Y)));

    /// <summary>Threads of a group are numbered with X fastest.</summary>
    public Int3 LocalAt(int linear) => new(
        linear % GroupSize.X,
        linear / GroupSize.X % GroupSize.Y,
        linear / (GroupSize.X * GroupSize.Y));

    public KernelThread Thread(Int3 group, Int3 local) => new(group, local, GroupSize, GroupCount);

    /// <summary>Keeps the first failure only; later ones are usually consequences of it.</summary>
    public void Fail(KernelEmulationException failure) => Interlocked.CompareExchange(ref _failure, failure, null);

    public void FailThread(Int3 group, Int3 local, Exception exception)
    {
        KernelThread thread = Thread(group, local);
        Fail(new KernelEmulationException(
            $"kernel '{Kernel.Name}' failed in group {group}, thread {local} (global {thread.Global}): {exception.Message}",
            Kernel.Name,
            group,
            local,
            exception));
    }

    public void ThrowIfFailed()
    {
        if (Volatile.Read(ref _failure) is { } failure)
        {
            throw failure;
        }
    }
}
