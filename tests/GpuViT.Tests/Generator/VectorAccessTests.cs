using static GpuViT.Tests.Generator.GeneratorHarness;

namespace GpuViT.Tests.Generator;

/// <summary>
/// Float2/Float4 and the views' Load2/Load4/Store2/Store4 as the generator emits them: OpenCL's
/// vloadn/vstoren and constructor casts, CUDA's vector-pointer accesses and make_floatn, and
/// float shared arrays aligned for float4 when a kernel accesses shared memory by vectors.
/// </summary>
public sealed class VectorAccessTests
{
    private const string Body = """
                Float4 v = a.Load4(4 * i);
                var w = new Float4(v.X * 2f, v.Y, v.Z, v.W + 1f);
                b.Store4(4 * i, w);
                Float2 p = a.Load2(2 * i);
                b.Store2(2 * i, new Float2(p.Y, p.X));
                b[i] = a.Load4(0).Z + Scale(v, 3f).W;
        """;

    private const string Scale =
        "[DeviceFunction] public static Float4 Scale(Float4 v, float s) => new Float4(v.X * s, v.Y * s, v.Z * s, v.W * s);";

    [Fact]
    public void OpenCL_uses_vload_vstore_and_vector_literals()
    {
        string source = Translate(Kernel(Body, members: Scale)).KernelSource("openCLSource");

        Assert.Contains("    float4 v = vload4(0, a + (4 * i));\n", source);
        Assert.Contains("    float4 w = (float4)(v.x * 2.0f, v.y, v.z, v.w + 1.0f);\n", source);
        Assert.Contains("    vstore4(w, 0, b + (4 * i));\n", source);
        Assert.Contains("    float2 p = vload2(0, a + (2 * i));\n", source);
        Assert.Contains("    vstore2((float2)(p.y, p.x), 0, b + (2 * i));\n", source);
        Assert.Contains("    b[i] = (vload4(0, a + (0))).z + (Scale(v, 3.0f)).w;\n", source);
        Assert.Contains("float4 Scale(float4 v, float s);\n", source);
        Assert.Contains("    return (float4)(v.x * s, v.y * s, v.z * s, v.w * s);\n", source);
    }

    [Fact]
    public void Cuda_uses_vector_pointers_and_make_float()
    {
        string source = Translate(Kernel(Body, members: Scale)).KernelSource("cudaSource");

        Assert.Contains("    float4 v = *(const float4*)(a + (4 * i));\n", source);
        Assert.Contains("    float4 w = make_float4(v.x * 2.0f, v.y, v.z, v.w + 1.0f);\n", source);
        Assert.Contains("    *(float4*)(b + (4 * i)) = w;\n", source);
        Assert.Contains("    float2 p = *(const float2*)(a + (2 * i));\n", source);
        Assert.Contains("    *(float2*)(b + (2 * i)) = make_float2(p.y, p.x);\n", source);
        Assert.Contains("    b[i] = (*(const float4*)(a + (0))).z + (Scale(v, 3.0f)).w;\n", source);
        Assert.Contains("__device__ float4 Scale(float4 v, float s);\n", source);
        Assert.Contains("    return make_float4(v.x * s, v.y * s, v.z * s, v.w * s);\n", source);
    }

    [Fact]
    public void Target_typed_new_and_a_non_name_receiver_keep_their_meaning()
    {
        Result result = Translate(Kernel("Float2 q = new(1f, 2f); (n > 0 ? b : b).Store2(0, q);"));

        Assert.Contains("float2 q = (float2)(1.0f, 2.0f);", result.KernelSource("openCLSource"));
        Assert.Contains("vstore2(q, 0, (n > 0 ? b : b) + (0));", result.KernelSource("openCLSource"));
        Assert.Contains("*(float2*)((n > 0 ? b : b) + (0)) = q;", result.KernelSource("cudaSource"));
    }

    [Fact]
    public void Float_shared_arrays_are_aligned_for_float4_when_shared_memory_is_accessed_by_vectors()
    {
        // The vector access is in a device function: the kernel must still align its float arrays.
        Result result = Translate(Kernel(
            """
                    var counts = Group.Shared<int>(3);
                    var tile = Group.Shared<float>(64);
                    counts[0] = 0;
                    tile.Store4(4 * i, a.Load4(4 * i));
                    Group.Barrier();
                    b.Store4(4 * i, Reversed(tile, i));
            """,
            members: "[DeviceFunction] public static Float4 Reversed(SharedArray<float> tile, int i) => tile.Load4(60 - 4 * i);"));

        string openCL = result.KernelSource("openCLSource"), cuda = result.KernelSource("cudaSource");
        Assert.Contains("    __local int counts[3];\n", openCL);
        Assert.Contains("    __local float tile[64] __attribute__((aligned(16)));\n", openCL);
        Assert.Contains("vstore4(vload4(0, a + (4 * i)), 0, tile + (4 * i));", openCL);
        Assert.Contains("return vload4(0, tile + (60 - 4 * i));", openCL);
        Assert.Contains("    __shared__ int counts[3];\n", cuda);
        Assert.Contains("    __shared__ __align__(16) float tile[64];\n", cuda);
        Assert.Contains("return *(const float4*)(tile + (60 - 4 * i));", cuda);

        // 12 bytes of ints, 4 of padding to the 16-byte boundary, 256 of floats.
        Assert.Equal(272, Assert.Single(result.Load()).SharedMemoryBytes);
    }

    [Fact]
    public void Shared_arrays_stay_unaligned_without_vector_access_on_shared_memory()
    {
        Result result = Translate(Kernel("var tile = Group.Shared<float>(6); tile[0] = 1f; b.Store2(0, a.Load2(0));"));

        Assert.Contains("    __local float tile[6];\n", result.KernelSource("openCLSource"));
        Assert.Contains("    __shared__ float tile[6];\n", result.KernelSource("cudaSource"));
        Assert.Equal(24, Assert.Single(result.Load()).SharedMemoryBytes);
    }

    [Fact]
    public void Vector_locals_named_like_C_vector_functions_are_renamed()
    {
        string source = Translate(Kernel("Float4 vload4 = a.Load4(0); Float2 make_float2 = a.Load2(0); b[0] = vload4.X + make_float2.Y;")).KernelSource("cudaSource");

        Assert.Contains("float4 vload4_ = *(const float4*)(a + (0));", source);
        Assert.Contains("b[0] = vload4_.x + make_float2_.y;", source);
    }

    /// <summary>A Load4, a scaled Float4 built from its components and a Store4, in the docs example's shape.</summary>
    [Fact]
    public void A_scaled_quad_copy_emits_one_vector_load_and_one_vector_store()
    {
        Result result = Translate(Kernel(
            """
                    if (i < n)
                    {
                        Float4 v = a.Load4(4 * i);
                        b.Store4(4 * i, new Float4(v.X * factor, v.Y * factor, v.Z * factor, v.W * factor));
                    }
            """,
            parameters: "ReadOnlyView<float> a, ReadWriteView<float> b, int n, float factor"));

        Assert.Contains("""
                    float4 v = vload4(0, a + (4 * i));
                    vstore4((float4)(v.x * factor, v.y * factor, v.z * factor, v.w * factor), 0, b + (4 * i));
            """, result.KernelSource("openCLSource"));
        Assert.Contains("""
                    float4 v = *(const float4*)(a + (4 * i));
                    *(float4*)(b + (4 * i)) = make_float4(v.x * factor, v.y * factor, v.z * factor, v.w * factor);
            """, result.KernelSource("cudaSource"));
    }

    private static Result Translate(string source)
    {
        Result result = Run(source);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.CompilationErrors);
        return result;
    }
}
