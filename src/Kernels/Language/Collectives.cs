namespace GpuViT.Kernels;

/// <summary>
/// An operation that every thread of a group reaches together and that exchanges values between
/// them: warp shuffles and reductions, tensor-core matrix multiply-accumulate, group copies. On the
/// emulator it is a barrier with data: each thread hands in its input and waits; when every thread
/// of the group has arrived at the same operation, <see cref="Complete"/> runs once, on all inputs,
/// and each thread leaves with its own output. A group whose threads do not all reach the same
/// operation (some at another operation or a barrier, some returned) fails, naming the operations.
/// </summary>
/// <remarks>
/// Group-wide, not warp-wide, on purpose: OpenCL 1.2 devices without sub-groups emulate warp
/// operations with local memory and barriers, which every thread of the group must reach, so the
/// emulator holds every kernel to that rule and a kernel that runs here runs on every backend.
/// </remarks>
internal abstract class CollectiveOperation
{
    /// <summary>How a kernel spells the operation, as in "Warp.Shuffle", for messages.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Computes every thread's output from every thread's input (both indexed by the thread's linear
    /// local index, X fastest). Throws <see cref="CollectiveException"/> to blame one thread.
    /// </summary>
    public abstract void Complete(object?[] inputs, object?[] outputs, CollectiveGroup group);
}

/// <summary>The group a collective operation completes in, and what it leaves for later operations.</summary>
internal sealed class CollectiveGroup
{
    public CollectiveGroup(int threadsPerGroup) => ThreadsPerGroup = threadsPerGroup;

    public int ThreadsPerGroup { get; }

    /// <summary>Work started by one operation and finished by a later one (group copies until their wait).</summary>
    public List<Action> Pending { get; } = [];
}

/// <summary>A collective operation's fault, blamed on the thread with linear local index <see cref="Local"/>.</summary>
internal sealed class CollectiveException(int local, string message) : Exception(message)
{
    public int Local { get; } = local;
}
