using GpuViT.Kernels.Emulator;

namespace GpuViT.Kernels;

/// <summary>
/// Per-thread asynchronous copies of 16 bytes from a global view into a shared array (CUDA
/// <c>cp.async.cg.shared.global</c> on sm_80 and later): each thread starts its own copies, closes
/// them into a commit group with <see cref="Commit"/>, and <see cref="Wait"/> blocks until at most
/// <c>pending</c> of its committed groups are still in flight. The copied data is defined in shared
/// memory only after a Wait that covers its group; other threads see it after a
/// <see cref="Group.Barrier"/> that follows their Waits. OpenCL 1.2 has no per-thread asynchronous
/// copy: there the copies are plain loads and stores and Commit and Wait do nothing, so results are
/// the same without the overlap; CUDA before sm_80 does the same.
/// </summary>
/// <remarks>
/// The emulator models the hardware's freedom: a copy's destination holds garbage (NaN or
/// 0xCDCDCDCD) from the copy until the Wait that lands it, the source is read at the copy and must
/// still hold the same values at that Wait (the hardware may read it any time in between), and a
/// copy that was never committed is never waited for. It refuses a misaligned index, a view offset
/// that breaks the 16-byte alignment, and a validElements out of range.
/// </remarks>
public static class Async
{
    /// <summary>
    /// Starts copying 4 floats: destination[destinationIndex + i] = source[sourceIndex + i] for
    /// i &lt; <paramref name="validElements"/> (0..4), and 0 for the rest (zero fill, for edges:
    /// with 0 nothing is read). destinationIndex and the source element's position in its buffer
    /// must be multiples of 4 (16-byte aligned in CUDA).
    /// </summary>
    public static void Copy4(SharedArray<float> destination, int destinationIndex, ReadOnlyView<float> source, int sourceIndex, int validElements) =>
        AsyncCopies.Start(
            "Async.Copy4", destination, destinationIndex, source.Name, source.Length, source.Offset, sourceIndex, validElements, 4,
            i => BitConverter.SingleToUInt32Bits(source[i]),
            bits => BitConverter.UInt32BitsToSingle(bits));

    /// <summary>
    /// Starts copying 8 bfloat16 values as 4 words of (k, k + 1) pairs, the low half first:
    /// word destination[destinationIndex + j] = source[sourceIndex + 2j] | source[sourceIndex + 2j + 1] &lt;&lt; 16
    /// (the 16 bytes as they lie in memory), values past <paramref name="validElements"/> (0..8) 0.
    /// destinationIndex must be a multiple of 4 and the source element's position in its buffer a multiple of 8.
    /// </summary>
    public static void Copy8(SharedArray<uint> destination, int destinationIndex, ReadOnlyView<BFloat16> source, int sourceIndex, int validElements) =>
        AsyncCopies.Start(
            "Async.Copy8", destination, destinationIndex, source.Name, source.Length, source.Offset, sourceIndex, validElements, 8,
            i => source[i].Bits,
            bits => bits);

    /// <inheritdoc cref="Copy8(SharedArray{uint}, int, ReadOnlyView{BFloat16}, int, int)"/>
    public static void Copy8(SharedArray<uint> destination, int destinationIndex, ReadOnlyView<Half> source, int sourceIndex, int validElements) =>
        AsyncCopies.Start(
            "Async.Copy8", destination, destinationIndex, source.Name, source.Length, source.Offset, sourceIndex, validElements, 8,
            i => BitConverter.HalfToUInt16Bits(source[i]),
            bits => bits);

    /// <summary>Closes this thread's copies started since the last Commit into one commit group (CUDA <c>cp.async.commit_group</c>).</summary>
    public static void Commit() => AsyncCopies.Commit();

    /// <summary>
    /// Waits until at most <paramref name="pending"/> of this thread's commit groups, the newest,
    /// are still in flight (CUDA <c>cp.async.wait_group</c>); the others have landed. Not a barrier:
    /// follow it with <see cref="Group.Barrier"/> before reading what other threads copied.
    /// A constant keeps CUDA's wait one instruction (larger than 7 waits for all).
    /// </summary>
    public static void Wait(int pending) => AsyncCopies.Wait(pending);
}

/// <summary>
/// The emulator's per-thread state of <see cref="Async"/>: copies started and not yet committed,
/// and committed groups not yet landed. Kept per OS thread and cleared by the group runners when
/// a kernel thread starts, since each kernel thread runs on one OS thread from start to end.
/// </summary>
internal static class AsyncCopies
{
    /// <summary>One copy: lands its data (after checking its source did not change) when waited for.</summary>
    private sealed record Copy(string Operation, Action Land);

    [ThreadStatic]
    private static List<Copy>? t_open;

    [ThreadStatic]
    private static List<List<Copy>>? t_committed;

    private static List<Copy> Open => t_open ??= [];

    private static List<List<Copy>> Committed => t_committed ??= [];

    /// <summary>Forgets the previous kernel thread's copies (what lands after a thread ends is no one's).</summary>
    public static void StartThread()
    {
        t_open?.Clear();
        t_committed?.Clear();
    }

    /// <param name="elements">Source elements per copy (16 bytes): 4 floats or 8 16-bit values.</param>
    /// <param name="read">The bits of source element i (index in the view).</param>
    /// <param name="word">A destination element from its bits (a float, or a word of two 16-bit values).</param>
    public static void Start<T>(
        string operation, SharedArray<T> destination, int destinationIndex, string sourceName, int sourceLength, int sourceOffset, int sourceIndex,
        int validElements, int elements, Func<int, uint> read, Func<uint, T> word) where T : unmanaged
    {
        GroupContext.Require(operation);
        if (validElements < 0 || validElements > elements)
        {
            throw new ArgumentOutOfRangeException(nameof(validElements), validElements, $"{operation}: validElements {validElements} is outside 0..{elements}");
        }

        if (destinationIndex < 0 || (long)destinationIndex + 4 > destination.Length)
        {
            throw new IndexOutOfRangeException(
                $"{operation}: the destination elements [{destinationIndex}, {(long)destinationIndex + 4}) are outside the shared array of length {destination.Length}");
        }

        if (destinationIndex % 4 != 0)
        {
            throw new DataMisalignedException(
                $"{operation}: destinationIndex {destinationIndex} is not a multiple of 4; CUDA's cp.async needs a 16-byte aligned shared address");
        }

        long position = (long)sourceOffset + sourceIndex;
        if (position % elements != 0)
        {
            string where = sourceOffset == 0 ? $"element {position}" : $"element {position} of its buffer (view offset {sourceOffset} + index {sourceIndex})";
            throw new DataMisalignedException(
                $"{operation} from '{sourceName}' at index {sourceIndex} is misaligned: it starts at {where}, which is not a multiple of {elements}; " +
                "CUDA's cp.async needs a 16-byte aligned global address");
        }

        if (validElements > 0 && (sourceIndex < 0 || (long)sourceIndex + validElements > sourceLength))
        {
            throw new IndexOutOfRangeException(
                $"{operation}: the source elements [{sourceIndex}, {(long)sourceIndex + validElements}) are outside '{sourceName}' of length {sourceLength}");
        }

        var bits = new uint[elements];
        for (int i = 0; i < validElements; i++)
        {
            bits[i] = read(sourceIndex + i);
        }

        // The hardware may write the destination any time from now to the wait: until then it holds garbage.
        GroupSharedMemory.FillWithGarbage(destination.AsSpan(destinationIndex, 4));
        Open.Add(new Copy(operation, () =>
        {
            for (int i = 0; i < validElements; i++)
            {
                if (read(sourceIndex + i) != bits[i])
                {
                    throw new InvalidOperationException(
                        $"{operation}: '{sourceName}' changed at element {sourceIndex + i} between the copy and the Async.Wait that landed it; " +
                        "its source must not be written until then");
                }
            }

            Span<T> target = destination.AsSpan(destinationIndex, 4);
            int perWord = elements / 4;
            for (int j = 0; j < 4; j++)
            {
                uint value = perWord == 1 ? bits[j] : bits[2 * j] | (bits[2 * j + 1] << 16);
                target[j] = word(value);
            }
        }));
    }

    public static void Commit()
    {
        GroupContext.Require("Async.Commit");
        Committed.Add([.. Open]);
        Open.Clear();
    }

    public static void Wait(int pending)
    {
        GroupContext.Require("Async.Wait");
        if (pending < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pending), pending, $"Async.Wait: pending {pending} is negative");
        }

        // The oldest groups land, in the order committed; copies not yet committed are not waited for.
        List<List<Copy>> committed = Committed;
        int landing = Math.Max(0, committed.Count - pending);
        for (int g = 0; g < landing; g++)
        {
            foreach (Copy copy in committed[g])
            {
                copy.Land();
            }
        }

        committed.RemoveRange(0, landing);
    }
}
