using System.Diagnostics;

namespace GpuViT.Kernels.Emulator;

/// <summary>
/// Runs a kernel that uses barriers. A crew of OS threads, one per thread of a group, runs groups
/// one after another; one crew per core runs groups in parallel. The threads of a crew take turns
/// (a baton passed from thread to thread): in local-index order each runs until it reaches a
/// barrier or returns, and when every thread of the group has had its turn the barrier opens and
/// the next round starts at thread 0.
/// </summary>
/// <remarks>
/// Taking turns is one schedule a GPU may pick, so results are exact; it also makes a launch
/// repeatable (only atomics between groups interleave freely), makes a missing barrier show the
/// same way every run (a thread reads shared memory a later thread has not yet written), needs no
/// locks around shared state, and lets a debugger stop in one thread while the rest of its group
/// stays put. A kernel that spins waiting for another thread of its group without a barrier hangs
/// here; that has no guarantee to work on a GPU either.
/// </remarks>
internal static class BarrierGroupRunner
{
    /// <summary>
    /// Caps the OS threads of one launch: groups of 1024 threads on a 16-core machine would need
    /// 16384, past the thread limits of many containers, for little gain: each crew runs on about
    /// one core, bound by the cost of waking threads.
    /// </summary>
    private const int MaxThreadsPerLaunch = 4096;

    public static void Run(EmulatedLaunch launch)
    {
        int crewCount = (int)Math.Min(
            Math.Min(Environment.ProcessorCount, launch.GroupTotal),
            Math.Max(1, MaxThreadsPerLaunch / launch.ThreadsPerGroup));
        var crews = new GroupCrew[crewCount];
        for (int i = 0; i < crewCount; i++)
        {
            crews[i] = new GroupCrew(launch);
        }

        // Counts the crews' threads out: when all have left, every group has run.
        var threadsDone = new CountdownEvent(crewCount * launch.ThreadsPerGroup);
        try
        {
            foreach (GroupCrew crew in crews)
            {
                crew.StartThreads(threadsDone);
            }
        }
        catch
        {
            // Out of threads before any group started: let those started leave (they signal the
            // event, so it is left undisposed to them).
            foreach (GroupCrew crew in crews)
            {
                crew.Cancel();
            }

            throw;
        }

        foreach (GroupCrew crew in crews)
        {
            crew.StartFirstGroup();
        }

        threadsDone.Wait();
        threadsDone.Dispose();
    }
}

/// <summary>The OS threads that run the threads of one group at a time; see <see cref="BarrierGroupRunner"/>.</summary>
[DebuggerNonUserCode]
internal sealed class GroupCrew
{
    private readonly EmulatedLaunch _launch;
    private readonly int _size;
    private readonly Gate[] _gates;
    private readonly CrewThreadContext[] _contexts;
    private readonly GroupSharedMemory _shared = new();

    // State of the group being run. Only the thread holding the baton touches it; the gates order
    // those accesses (Open and Pass are full fences), so no lock is needed.
    private readonly bool[] _exited;
    private Int3 _group;
    private int _atBarrier;
    private int _atCollective;
    private CollectiveOperation? _collective;
    private int _collectiveFirst;
    private string? _collectiveMismatch;
    private readonly object?[] _inputs;
    private readonly object?[] _outputs;
    private readonly CollectiveGroup _collectiveGroup;
    private int _returned;
    private int _exitedCount;
    private int _barriersPassed;
    private bool _aborting;
    private bool _done;
    private int _started;

    public GroupCrew(EmulatedLaunch launch)
    {
        _launch = launch;
        _size = launch.ThreadsPerGroup;
        _gates = new Gate[_size];
        _contexts = new CrewThreadContext[_size];
        _exited = new bool[_size];
        _inputs = new object?[_size];
        _outputs = new object?[_size];
        _collectiveGroup = new CollectiveGroup(_size);
        for (int local = 0; local < _size; local++)
        {
            _gates[local] = new Gate();
            _contexts[local] = new CrewThreadContext(this, local);
        }
    }

    public GroupSharedMemory SharedMemory => _shared;

    public void StartThreads(CountdownEvent threadsDone)
    {
        for (; _started < _size; _started++)
        {
            int local = _started;
            EmulatorThreads.Run(() => RunThread(local), threadsDone);
        }
    }

    /// <summary>The launching thread holds the baton until the first group starts.</summary>
    public void StartFirstGroup() => StartNextGroupOrFinish();

    /// <summary>Sends the threads started so far away before any group has run.</summary>
    public void Cancel()
    {
        _done = true;
        for (int local = 0; local < _started; local++)
        {
            _gates[local].Open();
        }
    }

    /// <summary>The loop of one OS thread: the kernel thread with this local index, in each group.</summary>
    private void RunThread(int local)
    {
        Gate gate = _gates[local];
        CrewThreadContext context = _contexts[local];
        Int3 localIndex = _launch.LocalAt(local);
        while (true)
        {
            gate.Pass();
            if (_done)
            {
                return;
            }

            if (_aborting)
            {
                // The group failed before this thread's first turn.
                EndTurn(local, TurnEnd.Aborted);
                continue;
            }

            Int3 group = _group;
            context.StartThread();
            TurnEnd end = TurnEnd.Returned;
            IGroupContext? previous = GroupContext.Current;
            GroupContext.Current = context;
            try
            {
                _launch.Body(_launch.Thread(group, localIndex), _launch.Arguments);
            }
            catch (GroupAbortedException)
            {
                end = TurnEnd.Aborted;
            }
            catch (Exception exception)
            {
                _launch.FailThread(group, localIndex, exception);
                end = TurnEnd.Failed;
            }
            finally
            {
                GroupContext.Current = previous;
            }

            EndTurn(local, end);
        }
    }

    /// <summary>Group.Barrier() on the thread with this local index: hand on the baton and wait for the next round.</summary>
    public void Barrier(int local)
    {
        EndTurn(local, TurnEnd.AtBarrier);
        _gates[local].Pass();
        if (_aborting)
        {
            throw new GroupAbortedException();
        }
    }

    /// <summary>
    /// A collective operation on the thread with this local index: hand in the input, pass the
    /// baton on and wait until every thread of the group has arrived and the operation completed.
    /// </summary>
    public object? Collective(int local, CollectiveOperation operation, object? input)
    {
        if (_collective is null)
        {
            _collective = operation;
            _collectiveFirst = local;
        }
        else if (!ReferenceEquals(_collective, operation))
        {
            // One operation object per kind and element type: Warp.Sum of int against Warp.Sum of float diverges too.
            _collectiveMismatch ??= $"thread {_launch.LocalAt(local)} reached {operation.Name} where thread " +
                $"{_launch.LocalAt(_collectiveFirst)} reached {_collective.Name}" +
                (operation.Name == _collective.Name ? " on another element type" : string.Empty);
        }

        _inputs[local] = input;
        EndTurn(local, TurnEnd.AtCollective);
        _gates[local].Pass();
        if (_aborting)
        {
            throw new GroupAbortedException();
        }

        object? output = _outputs[local];
        _outputs[local] = null;
        return output;
    }

    /// <summary>Records how the baton holder's turn ended and passes the baton on.</summary>
    private void EndTurn(int local, TurnEnd end)
    {
        switch (end)
        {
            case TurnEnd.AtBarrier:
                _atBarrier++;
                break;
            case TurnEnd.AtCollective:
                _atCollective++;
                break;
            case TurnEnd.Returned:
                _returned++;
                Exit(local);
                break;
            case TurnEnd.Failed:
                _aborting = true;
                Exit(local);
                break;
            case TurnEnd.Aborted:
                Exit(local);
                break;
        }

        if (_aborting)
        {
            // Wake the threads still in the group one by one so that each unwinds.
            int waiting = NextLiveThread(0);
            if (waiting >= 0)
            {
                _gates[waiting].Open();
            }
            else
            {
                StartNextGroupOrFinish();
            }

            return;
        }

        int next = NextLiveThread(local + 1);
        if (next >= 0)
        {
            _gates[next].Open();
            return;
        }

        // Every live thread has had its turn this round.
        if (_atBarrier == 0 && _atCollective == 0)
        {
            StartNextGroupOrFinish();
        }
        else if (_atCollective > 0)
        {
            CompleteCollective();
        }
        else if (_exitedCount == 0)
        {
            _atBarrier = 0;
            _barriersPassed++;
            _gates[0].Open();
        }
        else
        {
            FailGroup($"barrier divergence: {_atBarrier} of its {_size} threads waited at barrier {_barriersPassed + 1} " +
                $"while {_returned} had returned from the kernel; every thread of a group must reach every Group.Barrier()");
        }
    }

    /// <summary>The end of a round in which threads reached a collective operation: complete it, or fail the group.</summary>
    private void CompleteCollective()
    {
        CollectiveOperation operation = _collective!;
        string? divergence = _collectiveMismatch
            ?? (_atBarrier > 0 ? $"{_atCollective} of its {_size} threads reached {operation.Name} while {_atBarrier} waited at a Group.Barrier()" : null)
            ?? (_exitedCount > 0 ? $"{_atCollective} of its {_size} threads reached {operation.Name} while {_returned} had returned from the kernel" : null);
        _atCollective = 0;
        _collective = null;
        _collectiveMismatch = null;
        if (divergence is not null)
        {
            FailGroup(divergence + "; every thread of a group must reach every collective operation (warp operation, " +
                "matrix multiply-accumulate, group copy) together, as OpenCL devices without sub-groups need");
            return;
        }

        try
        {
            operation.Complete(_inputs, _outputs, _collectiveGroup);
        }
        catch (CollectiveException exception)
        {
            _launch.FailThread(_group, _launch.LocalAt(exception.Local), exception);
            _aborting = true;
            _gates[NextLiveThread(0)].Open();
            return;
        }
        finally
        {
            Array.Clear(_inputs);
        }

        _gates[0].Open();
    }

    private void FailGroup(string problem)
    {
        _launch.Fail(new KernelEmulationException(
            $"kernel '{_launch.Kernel.Name}' failed in group {_group}: {problem}",
            _launch.Kernel.Name,
            _group,
            null,
            null));
        _aborting = true;
        _gates[NextLiveThread(0)].Open();
    }

    private void Exit(int local)
    {
        _exited[local] = true;
        _exitedCount++;
    }

    private int NextLiveThread(int from)
    {
        for (int local = from; local < _size; local++)
        {
            if (!_exited[local])
            {
                return local;
            }
        }

        return -1;
    }

    private void StartNextGroupOrFinish()
    {
        long group = _launch.TakeGroup();
        if (group < 0)
        {
            _done = true;
            foreach (Gate gate in _gates)
            {
                gate.Open();
            }
            return;
        }

        _group = _launch.GroupAt(group);
        _atBarrier = 0;
        _returned = 0;
        _exitedCount = 0;
        _barriersPassed = 0;
        _atCollective = 0;
        _collective = null;
        _collectiveMismatch = null;
        _collectiveGroup.Pending.Clear();
        _aborting = false;
        Array.Clear(_exited);
        _shared.StartGroup();
        _gates[0].Open();
    }

    private enum TurnEnd
    {
        AtBarrier,
        AtCollective,
        Returned,
        Failed,

        /// <summary>Unwound because the group failed.</summary>
        Aborted,
    }

    /// <summary>Thrown at a barrier to unwind a thread whose group failed; never leaves the crew.</summary>
    private sealed class GroupAbortedException : Exception
    {
        public GroupAbortedException()
            : base("the group failed; this thread was released from its barrier")
        {
        }
    }
}

/// <summary>What Group.Barrier and Group.Shared do on one thread of a crew.</summary>
[DebuggerNonUserCode]
internal sealed class CrewThreadContext : IGroupContext
{
    private readonly GroupCrew _crew;
    private readonly int _local;
    private int _sharedCalls;

    public CrewThreadContext(GroupCrew crew, int local)
    {
        _crew = crew;
        _local = local;
    }

    public void StartThread()
    {
        _sharedCalls = 0;
        AsyncCopies.StartThread();
    }

    public void Barrier() => _crew.Barrier(_local);

    public object? Collective(CollectiveOperation operation, object? input) => _crew.Collective(_local, operation, input);

    public SharedArray<T> Shared<T>(int length) where T : unmanaged => _crew.SharedMemory.Get<T>(_sharedCalls++, length);
}
