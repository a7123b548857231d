using System.Collections.Concurrent;
using System.Diagnostics;
using GpuViT.Kernels.Cpu;
using GpuViT.Models.Streaming;

namespace GpuViT.Tests.Host;

/// <summary>
/// A device whose streams run asynchronously, as a GPU's do: each stream is a worker thread that
/// runs its queue in order, uploads take <see cref="UploadDelay"/> (a slow bus), kernels run on
/// the emulator after <see cref="LaunchDelay"/>, and every upload and compute is logged with its
/// start and end. It has no default stream: work queued without a stream fails, so ops that
/// drop the stream they were given show. Pinned host memory is counted, so that tests
/// can see it all come back.
/// </summary>
internal sealed class SlowAsyncDevice(long memoryBytes = 1L << 30) : Device(CpuDevice.Describe() with { Id = "slow-async", MemoryBytes = memoryBytes })
{
    private readonly SlowStream _default = null!;
    private int _pinned;

    public TimeSpan UploadDelay { get; init; } = TimeSpan.FromMilliseconds(40);

    public TimeSpan LaunchDelay { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>(what, sequence number on its stream, start, end) in Stopwatch ticks.</summary>
    public ConcurrentBag<(string What, int Index, long Start, long End)> Log { get; } = [];

    public int LivePinnedBuffers => Volatile.Read(ref _pinned);

    public override DeviceStream DefaultStream => _default ?? throw new NotSupportedException("the stream under test makes its own streams");

    protected override DeviceMemory AllocateCore<T>(long length, long bytes, long freeBytes) =>
        new HostMemory<T>(GC.AllocateUninitializedArray<T>(checked((int)length), pinned: true));

    protected override unsafe PinnedBuffer<T> AllocatePinnedCore<T>(int length)
    {
        PinnedBuffer<T> native = PinnedBuffer<T>.Native(length);
        Interlocked.Increment(ref _pinned);
        return new PinnedBuffer<T>((nint)native.Pointer, length, _ =>
        {
            native.Dispose();
            Interlocked.Decrement(ref _pinned);
        });
    }

    protected override DeviceStream CreateStreamCore() => new SlowStream(this);

    protected override void PrepareCore(KernelDescriptor kernel)
    {
    }

    /// <summary>The C# body on the emulator, queued on the stream after <see cref="LaunchDelay"/>.</summary>
    protected override void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments)
    {
        object[] values = [.. arguments.Select(a => a.Buffer is null
            ? (a.Parameter.ElementType == ElementType.Bool ? (int)a.Scalar! != 0 : a.Scalar!)
            : ((IHostMemory)a.Buffer.Memory).View(a))];
        ((SlowStream)stream).Compute(LaunchDelay, () => KernelEmulator.Launch(kernel, groupCount, groupSize, values));
    }

    protected override void SynchronizeCore()
    {
    }

    protected override void DisposeCore()
    {
    }

    /// <summary>An in-order queue on its own thread.</summary>
    internal sealed unsafe class SlowStream : DeviceStream
    {
        private readonly BlockingCollection<Action> _queue = [];
        private readonly Thread _worker;
        private readonly SlowAsyncDevice _device;
        private int _uploads, _computes;

        public SlowStream(SlowAsyncDevice device)
            : base(device)
        {
            _device = device;
            _worker = new Thread(() =>
            {
                foreach (Action work in _queue.GetConsumingEnumerable())
                {
                    work();
                }
            }) { IsBackground = true };
            _worker.Start();
        }

        /// <summary>Queues work that takes <paramref name="delay"/>, logged as compute.</summary>
        public void Compute(TimeSpan delay, Action work)
        {
            int index = _computes++;
            _queue.Add(() =>
            {
                long start = Stopwatch.GetTimestamp();
                Thread.Sleep(delay);
                work();
                _device.Log.Add(("compute", index, start, Stopwatch.GetTimestamp()));
            });
        }

        public override void Synchronize()
        {
            using var done = new ManualResetEventSlim();
            _queue.Add(done.Set);
            done.Wait();
        }

        public override DeviceEvent RecordEvent()
        {
            var e = new SlowEvent();
            _queue.Add(e.Complete);
            return e;
        }

        public override void WaitFor(DeviceEvent done) => _queue.Add(((SlowEvent)done).Wait);

        // Called twice, as real streams are: by their user, then by the device.
        public override void Dispose()
        {
            if (_queue.IsAddingCompleted)
            {
                return;
            }

            _queue.CompleteAdding();
            _worker.Join();
        }

        protected internal override void CopyToDevice(DeviceBuffer destination, long byteOffset, void* source, long bytes, bool asynchronous)
        {
            int index = _uploads++;
            nint from = (nint)source;
            Run(() =>
            {
                long start = Stopwatch.GetTimestamp();
                Thread.Sleep(_device.UploadDelay);
                Buffer.MemoryCopy((void*)from, (byte*)Pointer(destination) + byteOffset, bytes, bytes);
                _device.Log.Add(("upload", index, start, Stopwatch.GetTimestamp()));
            }, asynchronous);
        }

        protected internal override void CopyFromDevice(DeviceBuffer source, long byteOffset, void* destination, long bytes, bool asynchronous)
        {
            nint to = (nint)destination;
            Run(() => Buffer.MemoryCopy((byte*)Pointer(source) + byteOffset, (void*)to, bytes, bytes), asynchronous);
        }

        private void Run(Action work, bool asynchronous)
        {
            _queue.Add(work);
            if (!asynchronous)
            {
                Synchronize();
            }
        }

        private static void* Pointer(DeviceBuffer buffer) => ((IHostMemory)buffer.Memory).Pointer;
    }

    private sealed class SlowEvent : DeviceEvent
    {
        private readonly ManualResetEventSlim _done = new();
        private long _at;

        public override bool IsComplete => _done.IsSet;

        public void Complete()
        {
            _at = Stopwatch.GetTimestamp();
            _done.Set();
        }

        public void Wait() => _done.Wait();

        public override void Synchronize() => _done.Wait();

        public override double ElapsedMillisecondsSince(DeviceEvent start) =>
            Stopwatch.GetElapsedTime(((SlowEvent)start)._at, _at).TotalMilliseconds;

        public override void Dispose() => _done.Dispose();
    }
}

/// <summary>
/// A stand-in model on <see cref="SlowAsyncDevice"/>: each forward pass takes a fixed time on the
/// compute stream and gives each image the sum of its values, so that order is checkable.
/// </summary>
internal sealed unsafe class SlowSumModel(SlowAsyncDevice device, int valuesPerImage, long tokensPerImage = 10) : IStreamModel
{
    public TimeSpan ComputeDelay { get; init; } = TimeSpan.FromMilliseconds(40);

    public ConcurrentQueue<int> Counts { get; } = new();

    public Device Device => device;

    public int ValuesPerImage => valuesPerImage;

    public int OutputsPerImage => 1;

    public long TokensPerImage => tokensPerImage;

    public long DeviceBytesPerImage => 4L * (valuesPerImage + 1) * 2;

    public void Forward(DeviceView<float> images, DeviceView<float> outputs, int count, DeviceStream stream, CancellationToken cancel)
    {
        Counts.Enqueue(count);
        float* input = (float*)((IHostMemory)images.Buffer.Memory).Pointer + images.Offset;
        float* output = (float*)((IHostMemory)outputs.Buffer.Memory).Pointer + outputs.Offset;
        ((SlowAsyncDevice.SlowStream)stream).Compute(ComputeDelay, () =>
        {
            for (int k = 0; k < count; k++)
            {
                float sum = 0;
                for (int j = 0; j < valuesPerImage; j++)
                {
                    sum += input[(long)k * valuesPerImage + j];
                }

                output[k] = sum;
            }
        });
    }
}
