using System.Diagnostics;

namespace GpuViT.Kernels.Emulator;

/// <summary>
/// Runs a kernel without barriers: the threads of a group one after another on one OS thread,
/// the groups in parallel. Without a barrier no thread can wait for another of its group, so any
/// order of the threads is a schedule a GPU could pick, and no OS thread per kernel thread is needed.
/// </summary>
[DebuggerNonUserCode]
internal sealed class SequentialGroupRunner : IGroupContext
{
    private readonly EmulatedLaunch _launch;
    private readonly GroupSharedMemory _shared = new();
    private int _sharedCalls;

    private SequentialGroupRunner(EmulatedLaunch launch) => _launch = launch;

    public static void Run(EmulatedLaunch launch)
    {
        if (launch.GroupTotal == 1 || Environment.ProcessorCount == 1)
        {
            var runner = new SequentialGroupRunner(launch);
            for (long group = 0; group < launch.GroupTotal && runner.RunGroup(group); group++)
            {
            }

            return;
        }

        Parallel.For(
            0L,
            launch.GroupTotal,
            () => new SequentialGroupRunner(launch),
            (group, loop, runner) =>
            {
                if (!runner.RunGroup(group))
                {
                    loop.Stop();
                }

                return runner;
            },
            _ => { });
    }

    /// <returns>False when the launch has failed (here or in another group).</returns>
    private bool RunGroup(long linearGroup)
    {
        if (_launch.HasFailed)
        {
            return false;
        }

        Int3 group = _launch.GroupAt(linearGroup);
        KernelBody body = _launch.Body;
        object[] arguments = _launch.Arguments;
        Int3 size = _launch.GroupSize;
        _shared.StartGroup();

        IGroupContext? previous = GroupContext.Current;
        GroupContext.Current = this;
        try
        {
            for (int z = 0; z < size.Z; z++)
            {
                for (int y = 0; y < size.Y; y++)
                {
                    for (int x = 0; x < size.X; x++)
                    {
                        _sharedCalls = 0;
                        AsyncCopies.StartThread();
                        try
                        {
                            body(_launch.Thread(group, new Int3(x, y, z)), arguments);
                        }
                        catch (Exception exception)
                        {
                            _launch.FailThread(group, new Int3(x, y, z), exception);
                            return false;
                        }
                    }
                }
            }
        }
        finally
        {
            GroupContext.Current = previous;
        }

        return true;
    }

    public void Barrier() => throw new InvalidOperationException(
        $"kernel '{_launch.Kernel.Name}' called Group.Barrier(), but its descriptor says it uses no barrier " +
        "(UsesBarrier is false), so the emulator runs the threads of a group one after another and cannot wait " +
        "for the others; the descriptor is wrong");

    public object? Collective(CollectiveOperation operation, object? input) => throw new InvalidOperationException(
        $"kernel '{_launch.Kernel.Name}' called {operation.Name}, but its descriptor says it uses no barrier " +
        "(UsesBarrier is false), so the emulator runs the threads of a group one after another and cannot exchange " +
        "values between them; the descriptor is wrong");

    public SharedArray<T> Shared<T>(int length) where T : unmanaged => _shared.Get<T>(_sharedCalls++, length);
}
