using System.Runtime.InteropServices;

namespace GpuViT.Kernels.Emulator;

/// <summary>
/// A one-shot wake-up for one waiting thread: <see cref="Open"/> lets the next <see cref="Pass"/>
/// through once. Turn-taking threads pass the baton with it, one wake-up per thread per barrier,
/// so its cost bounds the emulator's speed on kernels with barriers.
/// </summary>
/// <remarks>
/// On Linux it sleeps on a futex directly: about 4 µs a hand-off, against about 12 µs through
/// Monitor.Wait/Pulse and far more through SemaphoreSlim, whose spinning starves the thread it
/// waits for on a small machine. Elsewhere it falls back to Monitor. It never spins: a thread
/// waits for the whole rest of its group's turn.
/// </remarks>
internal sealed unsafe class Gate
{
    private const int StateClosed = 0;
    private const int StateOpen = 1;
    private const int StateClosedWithWaiter = 2;

    // Pinned, so the futex address stays put while a thread sleeps on it.
    private readonly int[] _state = GC.AllocateArray<int>(1, pinned: true);
    private readonly object _monitor = new();

    public void Open()
    {
        if (Futex.IsAvailable)
        {
            fixed (int* state = _state)
            {
                if (Interlocked.Exchange(ref *state, StateOpen) == StateClosedWithWaiter)
                {
                    Futex.WakeOne(state);
                }
            }

            return;
        }

        lock (_monitor)
        {
            _state[0] = StateOpen;
            Monitor.Pulse(_monitor);
        }
    }

    public void Pass()
    {
        if (Futex.IsAvailable)
        {
            fixed (int* state = _state)
            {
                while (true)
                {
                    int seen = Interlocked.CompareExchange(ref *state, StateClosed, StateOpen);
                    if (seen == StateOpen)
                    {
                        return;
                    }

                    if (seen == StateClosed && Interlocked.CompareExchange(ref *state, StateClosedWithWaiter, StateClosed) != StateClosed)
                    {
                        continue; // opened meanwhile
                    }

                    // Returns at once if the state is no longer StateClosedWithWaiter; spurious wake-ups loop.
                    Futex.Wait(state, StateClosedWithWaiter);
                }
            }
        }

        lock (_monitor)
        {
            while (_state[0] != StateOpen)
            {
                Monitor.Wait(_monitor);
            }

            _state[0] = StateClosed;
        }
    }
}

/// <summary>The Linux futex system call, through libc's syscall(2); unavailable elsewhere.</summary>
internal static unsafe partial class Futex
{
    private const int WaitPrivate = 128; // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
    private const int WakePrivate = 129; // FUTEX_WAKE | FUTEX_PRIVATE_FLAG

    private static readonly long s_syscallNumber = !OperatingSystem.IsLinux() ? -1 : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => -1,
    };

    public static bool IsAvailable { get; } = Probe();

    public static void Wait(int* address, int expected) => Syscall(s_syscallNumber, address, WaitPrivate, expected, 0, 0, 0);

    public static void WakeOne(int* address) => Syscall(s_syscallNumber, address, WakePrivate, 1, 0, 0, 0);

    /// <summary>A wake-up with nobody waiting returns 0 where futexes work.</summary>
    private static bool Probe()
    {
        if (s_syscallNumber < 0)
        {
            return false;
        }

        try
        {
            int word = 0;
            return Syscall(s_syscallNumber, &word, WakePrivate, 1, 0, 0, 0) == 0;
        }
        catch (Exception exception) when (exception is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (musl names its libc differently): use Monitor
        }
    }

    // syscall is variadic; integer arguments are passed as for a plain call on x64 and arm64 Linux.
    [LibraryImport("libc.so.6", EntryPoint = "syscall")]
    private static partial long Syscall(long number, int* address, int operation, int value, nint timeout, nint address2, int value3);
}
