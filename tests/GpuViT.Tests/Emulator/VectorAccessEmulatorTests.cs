namespace GpuViT.Tests.Emulator;

/// <summary>
/// The emulator's vector access: Load2/Load4/Store2/Store4 read and write the right elements of a
/// view at any offset, and a misaligned start (CUDA's 8- and 16-byte rule), a range past the end
/// or a non-float view is an error that names the view, the index and the width.
/// </summary>
public sealed class VectorAccessEmulatorTests
{
    /// <summary>Copies quad g of x to quad g of y; thread 2 of group 1 reads from <paramref name="shift"/> elements further on.</summary>
    private static void CopyQuads(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y, int shift)
    {
        int g = thread.Global.X;
        int from = 4 * g + (thread.Group.X == 1 && thread.Local.X == 2 ? shift : 0);
        y.Store4(4 * g, x.Load4(from));
    }

    private static readonly KernelDescriptor s_copyQuads = new(
        nameof(CopyQuads),
        typeof(VectorAccessEmulatorTests).FullName!,
        [
            new KernelParameter("x", ParameterKind.Buffer, ElementType.Float, BufferAccess.ReadOnly),
            new KernelParameter("y", ParameterKind.Buffer, ElementType.Float, BufferAccess.ReadWrite),
            new KernelParameter("shift", ParameterKind.Scalar, ElementType.Int, BufferAccess.None),
        ],
        0,
        false,
        "",
        "",
        (t, a) => CopyQuads(t, (ReadOnlyView<float>)a[0], (ReadWriteView<float>)a[1], (int)a[2]));

    [Fact]
    public void Quads_are_copied_exactly()
    {
        float[] x = Enumerable.Range(0, 32).Select(i => i * 0.5f).ToArray();
        var y = new float[32];

        KernelEmulator.Launch(s_copyQuads, Int3.Size(2), Int3.Size(4), x, y, 0);

        Assert.Equal(x, y);
    }

    [Fact]
    public void Misaligned_load_names_kernel_thread_view_index_and_width()
    {
        float[] x = new float[40];

        var error = Assert.Throws<KernelEmulationException>(
            () => KernelEmulator.Launch(s_copyQuads, Int3.Size(2), Int3.Size(4), x, new float[32], 2));

        Assert.Contains("kernel 'CopyQuads' failed in group (1,0,0), thread (2,0,0)", error.Message);
        Assert.Contains(
            "Load4 at index 26 of 'x' is misaligned: it starts at element 26, which is not a multiple of 4; CUDA requires a float4 to be 16-byte aligned",
            error.Message);
        Assert.IsType<DataMisalignedException>(error.InnerException);
    }

    [Fact]
    public void Load_past_the_end_is_out_of_range_like_an_index()
    {
        var error = Assert.Throws<KernelEmulationException>(
            () => KernelEmulator.Launch(s_copyQuads, Int3.Size(2), Int3.Size(4), new float[30], new float[32], 0));

        // Thread 3 of group 1 covers elements 28 to 31, two of them past the end.
        Assert.Contains("thread (3,0,0)", error.Message);
        Assert.Contains("index 28 is outside 'x' of length 30: Load4 covers elements 28 to 31", error.Message);
        Assert.IsType<IndexOutOfRangeException>(error.InnerException);
    }

    [Fact]
    public void Views_at_an_offset_read_and_write_their_own_elements()
    {
        float[] data = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();
        var view = new ReadWriteView<float>(data, 4, 8, "v");

        Float4 quad = view.Load4(4);
        Float2 pair = new ReadOnlyView<float>(data, 2, 10, "r").Load2(6);
        view.Store2(2, new Float2(-1f, -2f));
        view.Store4(4, new Float4(quad.W, quad.Z, quad.Y, quad.X));

        Assert.Equal((8f, 9f, 10f, 11f), (quad.X, quad.Y, quad.Z, quad.W));
        Assert.Equal((8f, 9f), (pair.X, pair.Y));
        Assert.Equal([0, 1, 2, 3, 4, 5, -1, -2, 11, 10, 9, 8, 12, 13, 14, 15], data);
    }

    [Fact]
    public void The_view_offset_counts_for_alignment()
    {
        // Element 2 of this view is element 3 of its buffer: misaligned for a float2 on CUDA.
        var view = new ReadWriteView<float>(new float[16], 1, 12, "out");

        var error = Assert.Throws<DataMisalignedException>(() => view.Store2(2, new Float2(1f, 2f)));

        Assert.Equal(
            "Store2 at index 2 of 'out' is misaligned: it starts at element 3 of its buffer (view offset 1 + index 2), which is not a multiple of 2; CUDA requires a float2 to be 8-byte aligned",
            error.Message);
        Assert.Equal(new Float4(0f, 0f, 0f, 0f).ToString(), view.Load4(3).ToString()); // element 4 of the buffer: aligned
    }

    [Fact]
    public void Out_of_range_and_negative_indices_are_reported()
    {
        var view = new ReadOnlyView<float>(new float[8], "x");

        Assert.Equal("index 6 is outside 'x' of length 8: Load4 covers elements 6 to 9", Assert.Throws<IndexOutOfRangeException>(() => view.Load4(6)).Message);
        Assert.Equal("index -2 is outside 'x' of length 8: Load2 covers elements -2 to -1", Assert.Throws<IndexOutOfRangeException>(() => view.Load2(-2)).Message);
        Assert.Equal(new Float2(0f, 0f).ToString(), view.Load2(6).ToString());
    }

    [Fact]
    public void Shared_arrays_check_alignment_and_range()
    {
        var tile = new SharedArray<float>(new float[8]);

        tile.Store4(4, new Float4(1f, 2f, 3f, 4f));
        Assert.Equal("(1, 2, 3, 4)", tile.Load4(4).ToString());
        Assert.Equal("(3, 4)", tile.Load2(6).ToString());
        Assert.Equal(
            "Load4 at index 2 of 'shared array' is misaligned: it starts at element 2, which is not a multiple of 4; CUDA requires a float4 to be 16-byte aligned",
            Assert.Throws<DataMisalignedException>(() => tile.Load4(2)).Message);
        Assert.Throws<IndexOutOfRangeException>(() => tile.Store2(8, new Float2(0f, 0f)));
    }

    [Fact]
    public void Vector_access_on_int_views_is_an_error()
    {
        var error = Assert.Throws<NotSupportedException>(() => new ReadOnlyView<int>(new int[8], "k").Load4(0));
        Assert.Equal("Load4 reads and writes floats, but 'k' holds int: vector access is for views and shared arrays of float only", error.Message);

        Assert.Throws<NotSupportedException>(() => new ReadWriteView<uint>(new uint[8], "u").Store2(0, new Float2(1f, 2f)));
        Assert.Throws<NotSupportedException>(() => new SharedArray<int>(new int[8]).Load2(0));
    }
}
