using System.Globalization;

namespace GpuViT.Kernels;

/// <summary>
/// Two floats loaded or stored together by <c>Load2</c>/<c>Store2</c> on a view or shared array
/// of float (OpenCL C and CUDA C <c>float2</c>). Kernels build one with <c>new Float2(x, y)</c>
/// and compute on its components; it has no arithmetic of its own.
/// </summary>
public readonly struct Float2(float x, float y)
{
    /// <summary>The first component (C <c>.x</c>).</summary>
    public float X { get; } = x;

    /// <summary>The second component (C <c>.y</c>).</summary>
    public float Y { get; } = y;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"({X}, {Y})");
}

/// <summary>
/// Four floats loaded or stored together by <c>Load4</c>/<c>Store4</c> on a view or shared array
/// of float (OpenCL C and CUDA C <c>float4</c>). Kernels build one with
/// <c>new Float4(x, y, z, w)</c> and compute on its components; it has no arithmetic of its own.
/// </summary>
public readonly struct Float4(float x, float y, float z, float w)
{
    /// <summary>The first component (C <c>.x</c>).</summary>
    public float X { get; } = x;

    /// <summary>The second component (C <c>.y</c>).</summary>
    public float Y { get; } = y;

    /// <summary>The third component (C <c>.z</c>).</summary>
    public float Z { get; } = z;

    /// <summary>The fourth component (C <c>.w</c>).</summary>
    public float W { get; } = w;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"({X}, {Y}, {Z}, {W})");
}

/// <summary>
/// The emulator's checks for Load2/Load4/Store2/Store4: the element type is float, every element
/// lies inside the view, and the first element's position in the underlying buffer is a multiple
/// of the width. CUDA reads a float4 with one 16-byte load (a float2 with an 8-byte one), which
/// faults on a misaligned address; device allocations are 256-byte aligned and a view travels as
/// its buffer plus an element offset, so the address is aligned exactly when that position is.
/// </summary>
internal static class VectorAccess
{
    public static Float2 Load2<T>(T[] array, int offset, int length, int index, string name) where T : unmanaged
    {
        int at = Check(array, offset, length, index, 2, name, nameof(Load2));
        float[] floats = (float[])(object)array;
        return new Float2(floats[at], floats[at + 1]);
    }

    public static Float4 Load4<T>(T[] array, int offset, int length, int index, string name) where T : unmanaged
    {
        int at = Check(array, offset, length, index, 4, name, nameof(Load4));
        float[] floats = (float[])(object)array;
        return new Float4(floats[at], floats[at + 1], floats[at + 2], floats[at + 3]);
    }

    public static void Store2<T>(T[] array, int offset, int length, int index, Float2 value, string name) where T : unmanaged
    {
        int at = Check(array, offset, length, index, 2, name, nameof(Store2));
        float[] floats = (float[])(object)array;
        floats[at] = value.X;
        floats[at + 1] = value.Y;
    }

    public static void Store4<T>(T[] array, int offset, int length, int index, Float4 value, string name) where T : unmanaged
    {
        int at = Check(array, offset, length, index, 4, name, nameof(Store4));
        float[] floats = (float[])(object)array;
        floats[at] = value.X;
        floats[at + 1] = value.Y;
        floats[at + 2] = value.Z;
        floats[at + 3] = value.W;
    }

    /// <returns>The position of the first element in the array.</returns>
    private static int Check<T>(T[] array, int offset, int length, int index, int width, string name, string operation) where T : unmanaged
    {
        if (typeof(T) != typeof(float))
        {
            throw new NotSupportedException(
                $"{operation} reads and writes floats, but '{name}' holds {Emulator.TypeNames.Of(typeof(T))}: " +
                "vector access is for views and shared arrays of float only");
        }

        if (index < 0 || (long)index + width > length)
        {
            throw new IndexOutOfRangeException(
                $"index {index} is outside '{name}' of length {length}: {operation} covers elements {index} to {(long)index + width - 1}");
        }

        int position = offset + index;
        if (position % width != 0)
        {
            string where = offset == 0 ? $"element {position}" : $"element {position} of its buffer (view offset {offset} + index {index})";
            throw new DataMisalignedException(
                $"{operation} at index {index} of '{name}' is misaligned: it starts at {where}, which is not a multiple of {width}; " +
                $"CUDA requires a float{width} to be {width * sizeof(float)}-byte aligned");
        }

        return position;
    }
}
