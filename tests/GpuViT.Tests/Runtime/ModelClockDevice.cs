using GpuViT.Kernels.Emulator;

namespace GpuViT.Tests.Runtime;

/// <summary>
/// A device that runs nothing and keeps a model clock, as a GPU's events see one: the first launch
/// of a kernel waits for a slow build (the device idle, its clock running on), and every launch of
/// <c>ProbeFma</c> costs a fixed overhead plus a time per loop iteration. So a probe's figure can be
/// checked against the rate the model implies, whatever the machine the test runs on.
/// </summary>
internal sealed class ModelClockDevice : Device
{
    public const double BuildSeconds = 0.5;
    public const double LaunchSeconds = 1e-3;
    public const double IterationSeconds = 1e-6;

    private readonly HashSet<string> _built = [];
    private readonly ModelStream _stream;

    public ModelClockDevice()
        : base(EmulatorDevice.Describe() with { Id = "model-clock", ComputeUnits = 2 }) =>
        _stream = new ModelStream(this);

    /// <summary>Model seconds since the device was made.</summary>
    public double Clock { get; private set; }

    public override DeviceStream DefaultStream => _stream;

    protected override DeviceMemory AllocateCore<T>(long length, long bytes, long freeBytes) =>
        new HostMemory<T>(GC.AllocateUninitializedArray<T>(checked((int)length), pinned: true));

    protected override PinnedBuffer<T> AllocatePinnedCore<T>(int length) => PinnedBuffer<T>.Native(length);

    protected override DeviceStream CreateStreamCore() => throw new NotSupportedException();

    protected override void PrepareCore(KernelDescriptor kernel)
    {
        if (_built.Add(kernel.Name))
        {
            Clock += BuildSeconds;
        }
    }

    protected override void LaunchCore(KernelDescriptor kernel, Int3 groupCount, Int3 groupSize, DeviceStream stream, KernelArgument[] arguments)
    {
        int iterations = kernel.Name == "ProbeFma" ? (int)arguments[1].Scalar! : 0;
        Clock += LaunchSeconds + iterations * IterationSeconds;
    }

    protected override void SynchronizeCore()
    {
    }

    protected override void DisposeCore()
    {
    }

    private sealed unsafe class ModelStream(ModelClockDevice device) : DeviceStream(device)
    {
        public override void Synchronize()
        {
        }

        public override DeviceEvent RecordEvent() => new ModelEvent(device.Clock);

        public override void WaitFor(DeviceEvent done)
        {
        }

        public override void Dispose()
        {
        }

        protected internal override void CopyToDevice(DeviceBuffer destination, long byteOffset, void* source, long bytes, bool asynchronous) =>
            throw new NotSupportedException();

        protected internal override void CopyFromDevice(DeviceBuffer source, long byteOffset, void* destination, long bytes, bool asynchronous) =>
            throw new NotSupportedException();
    }

    private sealed class ModelEvent(double at) : DeviceEvent
    {
        public override bool IsComplete => true;

        public override void Synchronize()
        {
        }

        public override double ElapsedMillisecondsSince(DeviceEvent start) => (at - ((ModelEvent)start).At) * 1000;

        public override void Dispose()
        {
        }

        private double At => at;
    }
}
