using System.Runtime.CompilerServices;

namespace GpuViT.Kernels;

/// <summary>
/// A kernel parameter that reads a buffer of <c>float</c>, <c>int</c> or <c>uint</c>.
/// Compiled: <c>__global const T*</c> (OpenCL), <c>const T*</c> (CUDA). In the emulator it wraps
/// managed memory and checks every index.
/// </summary>
public readonly struct ReadOnlyView<T> where T : unmanaged
{
    private readonly T[] _array;
    private readonly int _offset;

    public ReadOnlyView(T[] array, string name = "buffer")
        : this(array, 0, array.Length, name)
    {
    }

    public ReadOnlyView(T[] array, int offset, int length, string name = "buffer")
    {
        ViewChecks.Range(array.Length, offset, length);
        _array = array;
        _offset = offset;
        Length = length;
        Name = name;
    }

    /// <summary>Elements in the view. Host side only: kernels take lengths as parameters.</summary>
    public int Length { get; }

    /// <summary>The parameter name, for error messages.</summary>
    public string Name { get; }

    public T this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Length)
            {
                ViewChecks.ThrowOutside(index, Name, Length);
            }

            return _array[_offset + index];
        }
    }

    public T this[uint index] => this[checked((int)index)];
}

/// <summary>
/// A kernel parameter that reads and writes a buffer of <c>float</c>, <c>int</c> or <c>uint</c>.
/// Compiled: <c>__global T*</c> (OpenCL), <c>T*</c> (CUDA). The indexer returns a reference so
/// that <c>Atomic.Add(ref view[i], v)</c> works.
/// </summary>
public readonly struct ReadWriteView<T> where T : unmanaged
{
    private readonly T[] _array;
    private readonly int _offset;

    public ReadWriteView(T[] array, string name = "buffer")
        : this(array, 0, array.Length, name)
    {
    }

    public ReadWriteView(T[] array, int offset, int length, string name = "buffer")
    {
        ViewChecks.Range(array.Length, offset, length);
        _array = array;
        _offset = offset;
        Length = length;
        Name = name;
    }

    /// <summary>Elements in the view. Host side only: kernels take lengths as parameters.</summary>
    public int Length { get; }

    /// <summary>The parameter name, for error messages.</summary>
    public string Name { get; }

    public ref T this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Length)
            {
                ViewChecks.ThrowOutside(index, Name, Length);
            }

            return ref _array[_offset + index];
        }
    }

    public ref T this[uint index] => ref this[checked((int)index)];
}

/// <summary>
/// Memory shared by the threads of one group (CUDA <c>__shared__</c>, OpenCL <c>__local</c>),
/// made by <see cref="Group.Shared{T}(int)"/> with a compile-time constant size.
/// </summary>
public readonly struct SharedArray<T> where T : unmanaged
{
    private readonly T[] _array;

    internal SharedArray(T[] array) => _array = array;

    public ref T this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)_array.Length)
            {
                ViewChecks.ThrowOutside(index, "shared array", _array.Length);
            }

            return ref _array[index];
        }
    }

    public ref T this[uint index] => ref this[checked((int)index)];

    /// <summary>Elements in the array, for the emulator's checks (kernels know the constant size).</summary>
    internal int Length => _array.Length;

    /// <summary>The elements [start, start + length), for the emulator's group copies.</summary>
    internal Span<T> AsSpan(int start, int length) => _array.AsSpan(start, length);
}

internal static class ViewChecks
{
    public static void Range(int arrayLength, int offset, int length)
    {
        if (offset < 0 || length < 0 || (long)offset + length > arrayLength)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset), $"view [{offset}, {offset}+{length}) lies outside an array of {arrayLength} elements");
        }
    }

    public static void ThrowOutside(long index, string name, int length) =>
        throw new IndexOutOfRangeException($"index {index} is outside '{name}' of length {length}");
}
