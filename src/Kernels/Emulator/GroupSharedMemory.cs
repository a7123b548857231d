using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GpuViT.Kernels.Emulator;

/// <summary>
/// The Group.Shared arrays of the group being run. The k-th Group.Shared call a thread makes
/// returns the group's k-th array, so every thread of the group sees the same memory. Arrays are
/// kept for the next group run by the same worker, but refilled with garbage when that group
/// first asks for them, so each group starts from undefined contents as on a GPU.
/// </summary>
/// <remarks>Not thread-safe: one group's threads take turns, or run one after another.</remarks>
[DebuggerNonUserCode]
internal sealed class GroupSharedMemory
{
    /// <summary>The byte that fills non-float shared memory: ints start as 0xCDCDCDCD (-842150451).</summary>
    public const byte GarbageByte = 0xCD;

    private readonly List<Array> _arrays = [];
    private int _inUse;

    /// <summary>Forgets the arrays of the previous group.</summary>
    public void StartGroup() => _inUse = 0;

    /// <param name="callIndex">How many Group.Shared calls the calling thread made before this one.</param>
    public SharedArray<T> Get<T>(int callIndex, int length) where T : unmanaged
    {
        if (length <= 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(length), length, $"Group.Shared<{TypeNames.Of(typeof(T))}> needs a length of at least 1");
        }

        if (callIndex < _inUse)
        {
            // An earlier thread of this group made this call already: hand out the same array.
            Array existing = _arrays[callIndex];
            if (existing is T[] same && same.Length == length)
            {
                return new SharedArray<T>(same);
            }

            throw new InvalidOperationException(
                $"Group.Shared call #{callIndex + 1} asked for {TypeNames.Of(typeof(T))}[{length}], but another thread " +
                $"of the group got {TypeNames.Of(existing.GetType().GetElementType()!)}[{existing.Length}] from its call " +
                $"#{callIndex + 1}: every thread of a group must make the same Group.Shared calls in the same order");
        }

        T[] array;
        if (callIndex < _arrays.Count && _arrays[callIndex] is T[] pooled && pooled.Length == length)
        {
            array = pooled;
        }
        else
        {
            array = new T[length];
            if (callIndex < _arrays.Count)
            {
                _arrays[callIndex] = array;
            }
            else
            {
                _arrays.Add(array);
            }
        }

        FillWithGarbage(array.AsSpan());
        _inUse = callIndex + 1;
        return new SharedArray<T>(array);
    }

    /// <summary>NaN for floating point, 0xCD bytes for the rest: a read before a write shows in results.</summary>
    /// <remarks>Also what a group copy's destination holds until its wait (Group.CopyAsync).</remarks>
    public static void FillWithGarbage<T>(Span<T> memory) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            MemoryMarshal.Cast<T, float>(memory).Fill(float.NaN);
        }
        else if (typeof(T) == typeof(double))
        {
            MemoryMarshal.Cast<T, double>(memory).Fill(double.NaN);
        }
        else if (typeof(T) == typeof(Half))
        {
            MemoryMarshal.Cast<T, Half>(memory).Fill(Half.NaN);
        }
        else if (typeof(T) == typeof(BFloat16))
        {
            MemoryMarshal.Cast<T, BFloat16>(memory).Fill(BFloat16.NaN);
        }
        else
        {
            MemoryMarshal.AsBytes(memory).Fill(GarbageByte);
        }
    }
}
