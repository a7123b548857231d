namespace GpuViT.Kernels.Emulator;

/// <summary>
/// OS threads for kernels with barriers, kept between launches: a launch needs one per kernel
/// thread of each group it runs at once (up to thousands), and starting a thread costs about
/// 100 µs. An idle thread ends after <see cref="IdleTimeout"/>.
/// </summary>
/// <remarks>Not the .NET thread pool: these threads block for long stretches, which would starve it.</remarks>
internal static class EmulatorThreads
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(15);

    // Kernel bodies are shallow, and there may be thousands of these threads.
    private const int StackBytes = 256 * 1024;

    private static readonly object s_lock = new();
    private static readonly List<PooledThread> s_idle = [];
    private static int s_started;

    /// <summary>Runs <paramref name="work"/> on a pooled thread, then signals <paramref name="done"/>.</summary>
    /// <remarks><paramref name="work"/> must not throw: an exception would end the process.</remarks>
    public static void Run(Action work, CountdownEvent done)
    {
        PooledThread? thread = null;
        lock (s_lock)
        {
            if (s_idle.Count > 0)
            {
                thread = s_idle[^1];
                s_idle.RemoveAt(s_idle.Count - 1);
            }
        }

        (thread ?? PooledThread.Start()).Assign(work, done);
    }

    private sealed class PooledThread
    {
        private readonly object _monitor = new();
        private Action? _work;
        private CountdownEvent? _done;

        public static PooledThread Start()
        {
            var pooled = new PooledThread();
            var thread = new Thread(pooled.Loop, StackBytes)
            {
                IsBackground = true,
                Name = $"GpuViT emulator {Interlocked.Increment(ref s_started)}",
            };
            thread.Start();
            return pooled;
        }

        public void Assign(Action work, CountdownEvent done)
        {
            lock (_monitor)
            {
                _work = work;
                _done = done;
                Monitor.Pulse(_monitor);
            }
        }

        private void Loop()
        {
            while (true)
            {
                Action work;
                CountdownEvent done;
                lock (_monitor)
                {
                    while (_work is null)
                    {
                        if (!Monitor.Wait(_monitor, IdleTimeout) && _work is null && Retire())
                        {
                            return;
                        }
                    }

                    work = _work;
                    done = _done!;
                    _work = null;
                    _done = null;
                }

                work();
                lock (s_lock)
                {
                    s_idle.Add(this);
                }

                // After returning to the pool, so that the next launch finds this thread there.
                done.Signal();
            }
        }

        /// <summary>Leaves the pool unless a launch has just taken this thread (and is about to assign it work).</summary>
        private bool Retire()
        {
            lock (s_lock)
            {
                return s_idle.Remove(this);
            }
        }
    }
}
