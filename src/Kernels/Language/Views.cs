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

    /// <summary>Where the view starts in its buffer, for the emulator's alignment checks.</summary>
    internal int Offset => _offset;

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

    /// <summary>
    /// Elements <paramref name="index"/> to index+1 as one Float2 (OpenCL <c>vload2</c>, CUDA a <c>float2</c> load).
    /// Views of float only; the emulator checks that the first element's position in the buffer is a
    /// multiple of 2, as CUDA's 8-byte load needs.
    /// </summary>
    public Float2 Load2(int index) => VectorAccess.Load2(_array, _offset, Length, index, Name);

    /// <summary>
    /// Elements <paramref name="index"/> to index+3 as one Float4 (OpenCL <c>vload4</c>, CUDA a <c>float4</c> load).
    /// Views of float only; the emulator checks that the first element's position in the buffer is a
    /// multiple of 4, as CUDA's 16-byte load needs.
    /// </summary>
    public Float4 Load4(int index) => VectorAccess.Load4(_array, _offset, Length, index, Name);
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

    /// <summary>
    /// Elements <paramref name="index"/> to index+1 as one Float2 (OpenCL <c>vload2</c>, CUDA a <c>float2</c> load).
    /// Views of float only; the emulator checks that the first element's position in the buffer is a
    /// multiple of 2, as CUDA's 8-byte load needs.
    /// </summary>
    public Float2 Load2(int index) => VectorAccess.Load2(_array, _offset, Length, index, Name);

    /// <summary>
    /// Elements <paramref name="index"/> to index+3 as one Float4 (OpenCL <c>vload4</c>, CUDA a <c>float4</c> load).
    /// Views of float only; the emulator checks that the first element's position in the buffer is a
    /// multiple of 4, as CUDA's 16-byte load needs.
    /// </summary>
    public Float4 Load4(int index) => VectorAccess.Load4(_array, _offset, Length, index, Name);

    /// <summary>
    /// Writes <paramref name="value"/> to elements <paramref name="index"/> to index+1 (OpenCL <c>vstore2</c>, CUDA a
    /// <c>float2</c> store). Views of float only; aligned as for <see cref="Load2"/>.
    /// </summary>
    public void Store2(int index, Float2 value) => VectorAccess.Store2(_array, _offset, Length, index, value, Name);

    /// <summary>
    /// Writes <paramref name="value"/> to elements <paramref name="index"/> to index+3 (OpenCL <c>vstore4</c>, CUDA a
    /// <c>float4</c> store). Views of float only; aligned as for <see cref="Load4"/>.
    /// </summary>
    public void Store4(int index, Float4 value) => VectorAccess.Store4(_array, _offset, Length, index, value, Name);
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

    /// <summary>
    /// Elements <paramref name="index"/> to index+1 as one Float2 (OpenCL <c>vload2</c>, CUDA a <c>float2</c> load).
    /// Shared arrays of float only; the emulator checks that the index is a multiple of 2, as CUDA's 8-byte load needs.
    /// </summary>
    public Float2 Load2(int index) => VectorAccess.Load2(_array, 0, _array.Length, index, "shared array");

    /// <summary>
    /// Elements <paramref name="index"/> to index+3 as one Float4 (OpenCL <c>vload4</c>, CUDA a <c>float4</c> load).
    /// Shared arrays of float only; the emulator checks that the index is a multiple of 4, as CUDA's 16-byte load needs.
    /// </summary>
    public Float4 Load4(int index) => VectorAccess.Load4(_array, 0, _array.Length, index, "shared array");

    /// <summary>
    /// Writes <paramref name="value"/> to elements <paramref name="index"/> to index+1 (OpenCL <c>vstore2</c>, CUDA a
    /// <c>float2</c> store). Shared arrays of float only; aligned as for <see cref="Load2"/>.
    /// </summary>
    public void Store2(int index, Float2 value) => VectorAccess.Store2(_array, 0, _array.Length, index, value, "shared array");

    /// <summary>
    /// Writes <paramref name="value"/> to elements <paramref name="index"/> to index+3 (OpenCL <c>vstore4</c>, CUDA a
    /// <c>float4</c> store). Shared arrays of float only; aligned as for <see cref="Load4"/>.
    /// </summary>
    public void Store4(int index, Float4 value) => VectorAccess.Store4(_array, 0, _array.Length, index, value, "shared array");

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
