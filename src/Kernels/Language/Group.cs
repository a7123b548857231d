namespace GpuViT.Kernels;

/// <summary>Operations on the thread's group: barrier, group-shared memory and group copies.</summary>
public static partial class Group
{
    /// <summary>
    /// Waits until every thread of the group has reached this barrier; writes to shared and
    /// global memory before it are visible to the group after it. Every thread of the group must
    /// reach it (CUDA __syncthreads, OpenCL barrier); the emulator reports a group that does not.
    /// </summary>
    public static void Barrier() => GroupContext.Require("Group.Barrier").Barrier();

    /// <summary>
    /// Memory shared by the threads of this group. <paramref name="length"/> must be a
    /// compile-time constant, and the call must stand at the top level of a kernel body
    /// (<c>var tile = Group.Shared&lt;float&gt;(16 * 16);</c>). Contents start undefined: the
    /// emulator fills float, Half and BFloat16 arrays with NaN, and int and uint arrays with 0xCDCDCDCD, in every
    /// group, so that a read before a write shows.
    /// </summary>
    public static SharedArray<T> Shared<T>(int length) where T : unmanaged =>
        GroupContext.Require("Group.Shared").Shared<T>(length);
}

/// <summary>Atomic read-modify-write on an element of a read-write view or a shared array.</summary>
public static class Atomic
{
    /// <summary>Adds <paramref name="value"/> to <paramref name="target"/> atomically; returns the old value.</summary>
    public static float Add(ref float target, float value)
    {
        float old = Volatile.Read(ref target);
        while (true)
        {
            float seen = Interlocked.CompareExchange(ref target, old + value, old);
            if (BitConverter.SingleToInt32Bits(seen) == BitConverter.SingleToInt32Bits(old))
            {
                return old;
            }

            old = seen;
        }
    }

    /// <summary>Adds <paramref name="value"/> to <paramref name="target"/> atomically; returns the old value.</summary>
    public static int Add(ref int target, int value) => Interlocked.Add(ref target, value) - value;

    /// <summary>Adds <paramref name="value"/> to <paramref name="target"/> atomically; returns the old value.</summary>
    public static uint Add(ref uint target, uint value) => Interlocked.Add(ref target, value) - value;
}

/// <summary>What a group needs from whoever runs the kernel body (the emulator).</summary>
internal interface IGroupContext
{
    void Barrier();

    SharedArray<T> Shared<T>(int length) where T : unmanaged;

    /// <summary>Hands this thread's input to a collective operation and returns its output (see <see cref="CollectiveOperation"/>).</summary>
    object? Collective(CollectiveOperation operation, object? input);
}

internal static class GroupContext
{
    [ThreadStatic]
    private static IGroupContext? s_current;

    public static IGroupContext? Current
    {
        get => s_current;
        set => s_current = value;
    }

    /// <param name="operation">How a kernel spells it, as in "Group.Barrier", for the message.</param>
    public static IGroupContext Require(string operation) =>
        s_current ?? throw new InvalidOperationException(
            $"{operation} can only run inside a kernel launched on the emulator (KernelEmulator.Launch).");

    /// <summary>This thread's part in a collective operation: its input in, its output back.</summary>
    public static object? Collective(CollectiveOperation operation, object? input) =>
        Require(operation.Name).Collective(operation, input);
}
