using GpuViT.Kernels.Emulator;

namespace GpuViT.Kernels;

public static partial class Group
{
    /// <summary>
    /// Starts copying <paramref name="count"/> elements of <paramref name="source"/> from
    /// <paramref name="sourceIndex"/> into <paramref name="destination"/> from
    /// <paramref name="destinationIndex"/>, by the whole group (CUDA cp.async, OpenCL
    /// async_work_group_copy). Every thread of the group calls it with the same arguments, as a
    /// statement of the kernel body; the destination range is undefined, and the source range
    /// must not be written, until <see cref="WaitCopies"/>.
    /// </summary>
    public static void CopyAsync(SharedArray<float> destination, int destinationIndex, ReadOnlyView<float> source, int sourceIndex, int count) =>
        GroupCopy<float>.Start(destination, destinationIndex, new(source, source.Name, source.Length, i => source[i]), sourceIndex, count);

    /// <inheritdoc cref="CopyAsync(SharedArray{float}, int, ReadOnlyView{float}, int, int)"/>
    public static void CopyAsync(SharedArray<float> destination, int destinationIndex, ReadWriteView<float> source, int sourceIndex, int count) =>
        GroupCopy<float>.Start(destination, destinationIndex, new(source, source.Name, source.Length, i => source[i]), sourceIndex, count);

    /// <inheritdoc cref="CopyAsync(SharedArray{float}, int, ReadOnlyView{float}, int, int)"/>
    public static void CopyAsync(SharedArray<int> destination, int destinationIndex, ReadOnlyView<int> source, int sourceIndex, int count) =>
        GroupCopy<int>.Start(destination, destinationIndex, new(source, source.Name, source.Length, i => source[i]), sourceIndex, count);

    /// <inheritdoc cref="CopyAsync(SharedArray{float}, int, ReadOnlyView{float}, int, int)"/>
    public static void CopyAsync(SharedArray<int> destination, int destinationIndex, ReadWriteView<int> source, int sourceIndex, int count) =>
        GroupCopy<int>.Start(destination, destinationIndex, new(source, source.Name, source.Length, i => source[i]), sourceIndex, count);

    /// <inheritdoc cref="CopyAsync(SharedArray{float}, int, ReadOnlyView{float}, int, int)"/>
    public static void CopyAsync(SharedArray<uint> destination, int destinationIndex, ReadOnlyView<uint> source, int sourceIndex, int count) =>
        GroupCopy<uint>.Start(destination, destinationIndex, new(source, source.Name, source.Length, i => source[i]), sourceIndex, count);

    /// <inheritdoc cref="CopyAsync(SharedArray{float}, int, ReadOnlyView{float}, int, int)"/>
    public static void CopyAsync(SharedArray<uint> destination, int destinationIndex, ReadWriteView<uint> source, int sourceIndex, int count) =>
        GroupCopy<uint>.Start(destination, destinationIndex, new(source, source.Name, source.Length, i => source[i]), sourceIndex, count);

    /// <summary>
    /// Waits until every copy the group started with <see cref="CopyAsync(SharedArray{float}, int, ReadOnlyView{float}, int, int)"/>
    /// has landed, then is a <see cref="Barrier"/>: every thread of the group reaches it, and sees
    /// every copied element after it.
    /// </summary>
    public static void WaitCopies() => GroupContext.Collective(WaitGroupCopies.Instance, null);
}

/// <summary>A copy's source view, seen the same way whether it is read-only or read-write.</summary>
internal readonly record struct CopySource<T>(object View, string Name, int Length, Func<int, T> Read);

/// <summary>
/// Group.CopyAsync on the emulator. Each thread checks the ranges and fills the destination range
/// with garbage as it arrives (the hardware may write it any time from the first thread's call
/// on, so a thread that still reads it there reads garbage); when all have arrived, the source
/// range is read and held until Group.WaitCopies writes it.
/// </summary>
internal sealed class GroupCopy<T> : CollectiveOperation where T : unmanaged
{
    private static readonly GroupCopy<T> s_instance = new();

    public override string Name => "Group.CopyAsync";

    /// <summary>One thread's call.</summary>
    private sealed record Request(SharedArray<T> Destination, int DestinationIndex, CopySource<T> Source, int SourceIndex, int Count);

    public static void Start(SharedArray<T> destination, int destinationIndex, CopySource<T> source, int sourceIndex, int count)
    {
        IGroupContext context = GroupContext.Require("Group.CopyAsync");
        if (count < 0)
        {
            throw new ArgumentException($"Group.CopyAsync: count {count} is negative");
        }

        if (sourceIndex < 0 || (long)sourceIndex + count > source.Length)
        {
            throw new IndexOutOfRangeException(
                $"Group.CopyAsync: the source range [{sourceIndex}, {(long)sourceIndex + count}) is outside '{source.Name}' of length {source.Length}");
        }

        if (destinationIndex < 0 || (long)destinationIndex + count > destination.Length)
        {
            throw new IndexOutOfRangeException(
                $"Group.CopyAsync: the destination range [{destinationIndex}, {(long)destinationIndex + count}) is outside the shared array of length {destination.Length}");
        }

        GroupSharedMemory.FillWithGarbage(destination.AsSpan(destinationIndex, count));
        context.Collective(s_instance, new Request(destination, destinationIndex, source, sourceIndex, count));
    }

    public override void Complete(object?[] inputs, object?[] outputs, CollectiveGroup group)
    {
        var first = (Request)inputs[0]!;
        for (int thread = 1; thread < group.ThreadsPerGroup; thread++)
        {
            var request = (Request)inputs[thread]!;
            string? difference =
                !request.Destination.Equals(first.Destination) ? "its destination is another shared array than the first thread's"
                : request.DestinationIndex != first.DestinationIndex ? $"its destinationIndex {request.DestinationIndex} differs from the first thread's {first.DestinationIndex}"
                : !request.Source.View.Equals(first.Source.View) ? $"its source '{request.Source.Name}' is another view than the first thread's '{first.Source.Name}'"
                : request.SourceIndex != first.SourceIndex ? $"its sourceIndex {request.SourceIndex} differs from the first thread's {first.SourceIndex}"
                : request.Count != first.Count ? $"its count {request.Count} differs from the first thread's {first.Count}"
                : null;
            if (difference is not null)
            {
                throw new CollectiveException(thread, $"Group.CopyAsync: {difference}; every thread of the group must copy the same range");
            }
        }

        var copied = new T[first.Count];
        for (int i = 0; i < copied.Length; i++)
        {
            copied[i] = first.Source.Read(first.SourceIndex + i);
        }

        group.Pending.Add(() =>
        {
            // The hardware may read the source any time before the wait: a write to it meanwhile is a race.
            for (int i = 0; i < copied.Length; i++)
            {
                if (!EqualityComparer<T>.Default.Equals(first.Source.Read(first.SourceIndex + i), copied[i]))
                {
                    throw new CollectiveException(0,
                        $"Group.CopyAsync: '{first.Source.Name}' changed at element {first.SourceIndex + i} between the copy and Group.WaitCopies; " +
                        "its source must not be written until the wait");
                }
            }

            copied.CopyTo(first.Destination.AsSpan(first.DestinationIndex, first.Count));
        });
    }
}

/// <summary>Group.WaitCopies on the emulator: writes every pending copy, in the order started.</summary>
internal sealed class WaitGroupCopies : CollectiveOperation
{
    public static readonly WaitGroupCopies Instance = new();

    public override string Name => "Group.WaitCopies";

    public override void Complete(object?[] inputs, object?[] outputs, CollectiveGroup group)
    {
        foreach (Action copy in group.Pending)
        {
            copy();
        }

        group.Pending.Clear();
    }
}
