using System.Runtime.ExceptionServices;
using GpuViT.Kernels.Runtime;
using static GpuViT.Kernels.Cuda.CudaNative;

namespace GpuViT.Kernels.Cuda;

/// <summary>
/// A CUDA graph captured from a stream: the CUgraph and its executable instance, which
/// <see cref="DeviceGraph.Launch"/> queues with one cuGraphLaunch. Both are destroyed once, by
/// Dispose or by the device's Dispose (before the context goes), whichever comes first.
/// </summary>
internal sealed unsafe class CudaGraph : DeviceGraph
{
    private readonly CudaDevice _device;
    private nint _graph, _exec;

    private CudaGraph(CudaDevice device, nint graph, nint exec)
        : base(device)
    {
        _device = device;
        _graph = graph;
        _exec = exec;
    }

    public override bool IsGraph => true;

    public override string? FallbackReason => null;

    /// <summary>
    /// Captures what <paramref name="queue"/> queues on <paramref name="stream"/> in THREAD_LOCAL
    /// mode (so that an unsafe call from this thread fails the capture instead of slipping into it,
    /// while other threads' streams carry on), ends the capture whatever happens, and instantiates
    /// the graph. A driver or launch error while queuing, or a capture the driver invalidated or
    /// refused, gives a graph that requeues the work at each launch, with the driver's reason; nothing of
    /// the failed capture is kept.
    /// </summary>
    public static DeviceGraph Capture(CudaDevice device, CudaStream stream, Action<DeviceStream> queue)
    {
        nint handle = stream.Handle;
        device.Enter();
        int begun = cuStreamBeginCapture_v2(handle, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        if (begun != CUDA_SUCCESS)
        {
            return new RequeuedWork(device, queue, $"cuStreamBeginCapture on {device.Info.Id} failed: {ErrorName(begun)}");
        }

        Exception? failure = null;
        try
        {
            queue(stream);
        }
        catch (Exception e)
        {
            failure = e;
        }

        // Always ended, on this thread: until then the stream stays capturing and runs nothing.
        device.TryEnter();
        nint graph = 0;
        int ended = cuStreamEndCapture(handle, &graph);
        if (failure is not null || ended != CUDA_SUCCESS || graph == 0)
        {
            if (graph != 0)
            {
                _ = cuGraphDestroy(graph);
            }

            if (failure is not null and not (CudaException or KernelLaunchException))
            {
                // Not the capture's fault (a bad argument, a cancellation): the caller's to see.
                ExceptionDispatchInfo.Throw(failure);
            }

            string reason = failure is not null
                ? $"the capture on {device.Info.Id} failed: {failure.Message}"
                : $"cuStreamEndCapture on {device.Info.Id} gave no graph: {ErrorName(ended)}";
            return new RequeuedWork(device, queue, reason);
        }

        nint exec;
        int instantiated = cuGraphInstantiateWithFlags(&exec, graph, 0);
        if (instantiated != CUDA_SUCCESS)
        {
            _ = cuGraphDestroy(graph);
            return new RequeuedWork(device, queue, $"cuGraphInstantiateWithFlags on {device.Info.Id} failed: {ErrorName(instantiated)}");
        }

        return new CudaGraph(device, graph, exec);
    }

    protected override void LaunchCore(DeviceStream stream)
    {
        if (stream is not CudaStream cuda)
        {
            throw new ArgumentException($"the stream is not a CUDA stream of {_device.Info.Id}", nameof(stream));
        }

        nint handle = cuda.Handle;
        nint exec = CudaStream.Live(_device, ref _exec, nameof(CudaGraph), "a graph");
        _device.Enter();
        _device.Check(cuGraphLaunch(exec, handle), "cuGraphLaunch");
    }

    /// <summary>The executable first, then the graph it was made from; a launch in flight completes (the driver frees it after).</summary>
    protected override void DisposeCore()
    {
        nint exec = Interlocked.Exchange(ref _exec, 0), graph = Interlocked.Exchange(ref _graph, 0);
        if (exec == 0 && graph == 0)
        {
            return;
        }

        _device.TryEnter();
        if (exec != 0)
        {
            _ = cuGraphExecDestroy(exec);
        }

        if (graph != 0)
        {
            _ = cuGraphDestroy(graph);
        }
    }
}
