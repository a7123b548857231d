using GpuViT.Kernels;
using GpuViT.Kernels.Runtime;
using GpuViT.Kernels.Runtime.OpenCL;
using Xunit;

namespace GpuViT.Tests.Runtime;

/// <summary>
/// The OpenCL runtime on hand-written OpenCL C (the generator's output will take their place):
/// device listing, build, launch and readback against plain C# loops, and the errors users see.
/// </summary>
public sealed class OpenCLContextTests
{
    private const string VectorAddSource = """
        __kernel void VectorAdd(__global const float* a, __global const float* b, __global float* sum, int n)
        {
            int i = get_global_id(0);
            if (i < n) sum[i] = a[i] + b[i];
        }
        """;

    private static readonly KernelDescriptor VectorAdd = Kernel(
        "VectorAdd", VectorAddSource, In("a", ElementType.Float), In("b", ElementType.Float), InOut("sum", ElementType.Float),
        Scalar("n", ElementType.Int));

    [Fact]
    public void ListDevices_FindsPoclCpuDevice()
    {
        RuntimeRequirement.OpenCL().Dispose();

        IReadOnlyList<OpenCLDeviceInfo> devices = OpenCLContext.ListDevices();

        Assert.NotEmpty(devices);
        Assert.Contains(devices, d => d.PlatformName.Contains("Portable Computing Language") && d.Type.HasFlag(OpenCLDeviceType.Cpu));
        Assert.All(devices, d =>
        {
            Assert.False(string.IsNullOrWhiteSpace(d.DeviceName));
            Assert.StartsWith("OpenCL C ", d.OpenCLCVersion);
            Assert.True(d.ComputeUnits > 0);
            Assert.True(d.GlobalMemoryBytes > 0);
            Assert.True(d.MaxWorkGroupSize > 0);
        });
    }

    [Fact]
    public void Create_OpensTheFirstListedDevice()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();

        OpenCLDeviceInfo first = OpenCLContext.ListDevices().Single(d => d.PlatformIndex == 0 && d.DeviceIndex == 0);
        Assert.Equal(first.DeviceName, cl.DeviceName);
    }

    [Fact]
    public void Create_WithAPlatformIndexOutOfRange_Throws()
    {
        RuntimeRequirement.OpenCL().Dispose();

        Assert.Throws<ArgumentOutOfRangeException>(() => OpenCLContext.Create(platform: 1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => OpenCLContext.Create(device: 1000));
    }

    [Fact]
    public void VectorAdd_MatchesCSharpLoop()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        const int n = 1000; // not a multiple of the group size: the kernel's bounds check matters
        float[] a = Enumerable.Range(0, n).Select(i => i * 0.5f).ToArray();
        float[] b = Enumerable.Range(0, n).Select(i => 3f - i).ToArray();
        float[] sum = new float[n];

        cl.Launch(VectorAdd, Int3.Size((n + 63) / 64), Int3.Size(64), a, b, sum, n);

        for (int i = 0; i < n; i++)
        {
            Assert.Equal(a[i] + b[i], sum[i]);
        }
    }

    [Fact]
    public void LocalMemoryAndBarrier_GroupSumsMatchCSharpLoop()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        KernelDescriptor groupSum = Kernel(
            "GroupSum",
            """
            __kernel void GroupSum(__global const float* input, __global float* sums)
            {
                // "local" is an OpenCL C keyword (an alias of __local), hence "lane".
                __local float partial[64];
                int lane = get_local_id(0);
                partial[lane] = input[get_global_id(0)];
                barrier(CLK_LOCAL_MEM_FENCE);
                for (int stride = 32; stride > 0; stride >>= 1)
                {
                    if (lane < stride) partial[lane] += partial[lane + stride];
                    barrier(CLK_LOCAL_MEM_FENCE);
                }
                if (lane == 0) sums[get_group_id(0)] = partial[0];
            }
            """,
            In("input", ElementType.Float), InOut("sums", ElementType.Float));
        const int groups = 37;
        // Small integers: every summation order gives the exact same float.
        float[] input = Enumerable.Range(0, groups * 64).Select(i => (float)(i % 17 - 8)).ToArray();
        float[] sums = new float[groups];

        cl.Launch(groupSum, Int3.Size(groups), Int3.Size(64), input, sums);

        for (int g = 0; g < groups; g++)
        {
            float expected = 0;
            for (int i = 0; i < 64; i++)
            {
                expected += input[g * 64 + i];
            }

            Assert.Equal(expected, sums[g]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IntUIntFloatAndBoolScalars_ArePassedAsTheKernelExpects(bool negate)
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        KernelDescriptor affine = Kernel(
            "Affine",
            """
            __kernel void Affine(__global int* values, __global const uint* steps, __global float* scaled,
                                 int factor, uint bias, float scale, int negate)
            {
                int i = get_global_id(0);
                int v = values[i] * factor + (int)(steps[i] + bias);
                values[i] = negate ? -v : v;
                scaled[i] = scaled[i] * scale;
            }
            """,
            InOut("values", ElementType.Int), In("steps", ElementType.UInt), InOut("scaled", ElementType.Float),
            Scalar("factor", ElementType.Int), Scalar("bias", ElementType.UInt), Scalar("scale", ElementType.Float),
            Scalar("negate", ElementType.Bool));
        const int n = 48;
        int[] values = Enumerable.Range(-20, n).ToArray();
        uint[] steps = Enumerable.Range(0, n).Select(i => (uint)(i * 3)).ToArray();
        float[] scaled = Enumerable.Range(0, n).Select(i => i + 0.25f).ToArray();
        int[] expectedValues = values.Select((v, i) => (negate ? -1 : 1) * (v * -3 + (int)(steps[i] + 7u))).ToArray();
        float[] expectedScaled = scaled.Select(s => s * 1.5f).ToArray();

        cl.Launch(affine, Int3.Size(n / 16), Int3.Size(16), values, steps, scaled, -3, 7u, 1.5f, negate);

        Assert.Equal(expectedValues, values);
        Assert.Equal(expectedScaled, scaled);
    }

    [Fact]
    public void TwoDimensionalLaunch_TransposesLikeCSharpLoop()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        KernelDescriptor transpose = Kernel(
            "Transpose",
            """
            __kernel void Transpose(__global const float* input, __global float* output, int rows, int columns)
            {
                int column = get_global_id(0);
                int row = get_global_id(1);
                if (row < rows && column < columns) output[column * rows + row] = input[row * columns + column];
            }
            """,
            In("input", ElementType.Float), InOut("output", ElementType.Float),
            Scalar("rows", ElementType.Int), Scalar("columns", ElementType.Int));
        const int rows = 13, columns = 21;
        float[] input = Enumerable.Range(0, rows * columns).Select(i => (float)i).ToArray();
        float[] output = new float[rows * columns];

        cl.Launch(transpose, Int3.Size((columns + 7) / 8, (rows + 3) / 4), Int3.Size(8, 4), input, output, rows, columns);

        for (int row = 0; row < rows; row++)
        {
            for (int column = 0; column < columns; column++)
            {
                Assert.Equal(input[row * columns + column], output[column * rows + row]);
            }
        }
    }

    [Fact]
    public void ThreeDimensionalLaunch_CoversEveryGlobalIndex()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        KernelDescriptor indices = Kernel(
            "GlobalIndices",
            """
            __kernel void GlobalIndices(__global int* output)
            {
                int x = get_global_id(0), y = get_global_id(1), z = get_global_id(2);
                output[(z * get_global_size(1) + y) * get_global_size(0) + x] = x + 100 * y + 10000 * z;
            }
            """,
            InOut("output", ElementType.Int));
        Int3 groupCount = Int3.Size(3, 2, 2), groupSize = Int3.Size(2, 4, 2);
        int sizeX = 6, sizeY = 8, sizeZ = 4;
        int[] output = new int[sizeX * sizeY * sizeZ];

        cl.Launch(indices, groupCount, groupSize, output);

        for (int z = 0; z < sizeZ; z++)
        {
            for (int y = 0; y < sizeY; y++)
            {
                for (int x = 0; x < sizeX; x++)
                {
                    Assert.Equal(x + 100 * y + 10000 * z, output[(z * sizeY + y) * sizeX + x]);
                }
            }
        }
    }

    [Fact]
    public void EmptyBuffers_AreAllowed()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();

        cl.Launch(VectorAdd, Int3.Size(1), Int3.Size(1), Array.Empty<float>(), Array.Empty<float>(), Array.Empty<float>(), 0);
    }

    [Fact]
    public void Build_IsCachedPerContext_AndRejectsASecondSourceUnderTheSameName()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        cl.Build(VectorAdd);
        cl.Build(VectorAdd);
        float[] sum = new float[2];
        cl.Launch(VectorAdd, Int3.Size(1), Int3.Size(2), new[] { 1f, 2f }, new[] { 10f, 20f }, sum, 2);
        Assert.Equal(new[] { 11f, 22f }, sum);

        KernelDescriptor impostor = Kernel("VectorAdd", VectorAddSource.Replace("a[i] + b[i]", "a[i] - b[i]"),
            In("a", ElementType.Float), In("b", ElementType.Float), InOut("sum", ElementType.Float), Scalar("n", ElementType.Int));
        Assert.Throws<InvalidOperationException>(() => cl.Build(impostor));
    }

    [Fact]
    public void BuildFailure_ThrowsKernelBuildExceptionWithTheCompilerLog()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        KernelDescriptor broken = Kernel(
            "Broken",
            """
            __kernel void Broken(__global float* data)
            {
                data[0] = undefinedVariable;
            }
            """,
            InOut("data", ElementType.Float));

        KernelBuildException e = Assert.Throws<KernelBuildException>(() => cl.Build(broken));

        Assert.Equal("Broken", e.KernelName);
        Assert.Equal(KernelDialect.OpenCL, e.Dialect);
        Assert.Contains("undefinedVariable", e.Log);
        Assert.StartsWith("building kernel 'Broken' for opencl failed:\n", e.Message);
        Assert.Contains(e.Log, e.Message);
    }

    [Fact]
    public void MissingEntryPoint_ThrowsKernelBuildException()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        KernelDescriptor misnamed = Kernel("Misnamed", "__kernel void Other(__global float* data) { data[0] = 1.0f; }",
            InOut("data", ElementType.Float));

        KernelBuildException e = Assert.Throws<KernelBuildException>(() => cl.Launch(misnamed, Int3.Size(1), Int3.Size(1), new float[1]));

        Assert.Contains("'Misnamed'", e.Message);
        Assert.Contains("CL_INVALID_KERNEL_NAME", e.Log);
    }

    [Fact]
    public void WrongBufferElementType_NamesTheParameter()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();

        ArgumentException e = Assert.Throws<ArgumentException>(
            () => cl.Launch(VectorAdd, Int3.Size(1), Int3.Size(4), new float[4], new int[4], new float[4], 4));

        Assert.Contains("'b'", e.Message);
        Assert.Contains("expects float[], got int[]", e.Message);
    }

    [Theory]
    [InlineData(4L)]
    [InlineData(4f)]
    [InlineData(true)]
    [InlineData(null)]
    public void WrongScalarType_NamesTheParameter(object? n)
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();

        ArgumentException e = Assert.Throws<ArgumentException>(
            () => cl.Launch(VectorAdd, Int3.Size(1), Int3.Size(4), new float[4], new float[4], new float[4], n!));

        Assert.Contains("'n'", e.Message);
    }

    [Fact]
    public void WrongArgumentCount_Throws()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();

        ArgumentException e = Assert.Throws<ArgumentException>(
            () => cl.Launch(VectorAdd, Int3.Size(1), Int3.Size(4), new float[4], new float[4], new float[4]));

        Assert.Contains("VectorAdd", e.Message);
    }

    [Fact]
    public void ZeroSizedShape_Throws()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();

        // new Int3(1) is (1,0,0): a size needs Int3.Size.
        Assert.Throws<ArgumentOutOfRangeException>(
            () => cl.Launch(VectorAdd, new Int3(1), Int3.Size(4), new float[4], new float[4], new float[4], 4));
    }

    [Fact]
    public void TooLargeGroup_ThrowsNamingTheKernelAndTheShape()
    {
        using OpenCLContext cl = RuntimeRequirement.OpenCL();
        long maxGroup = OpenCLContext.ListDevices().Single(d => d.PlatformIndex == 0 && d.DeviceIndex == 0).MaxWorkGroupSize;
        // Each dimension within the per-dimension limit, the product twice the group limit.
        Int3 groupSize = Int3.Size((int)maxGroup, 2);
        int n = (int)groupSize.Product;

        OpenCLException e = Assert.Throws<OpenCLException>(
            () => cl.Launch(VectorAdd, Int3.Size(1), groupSize, new float[n], new float[n], new float[n], n));

        Assert.Equal("CL_INVALID_WORK_GROUP_SIZE", e.ErrorName);
        Assert.Contains("'VectorAdd'", e.Message);
        Assert.Contains("CL_INVALID_WORK_GROUP_SIZE", e.Message);
        Assert.Contains(groupSize.ToString(), e.Message);
    }

    [Fact]
    public void Dispose_IsIdempotent_AndLaunchAfterwardThrows()
    {
        OpenCLContext cl = RuntimeRequirement.OpenCL();
        cl.Build(VectorAdd);

        cl.Dispose();
        cl.Dispose();

        Assert.Throws<ObjectDisposedException>(
            () => cl.Launch(VectorAdd, Int3.Size(1), Int3.Size(4), new float[4], new float[4], new float[4], 4));
    }

    private static KernelDescriptor Kernel(string name, string openCLSource, params KernelParameter[] parameters) =>
        new(name, typeof(OpenCLContextTests).FullName!, parameters, sharedMemoryBytes: 0, usesBarrier: false,
            openCLSource, cudaSource: "", (_, _) => throw new NotSupportedException("these tests run OpenCL only"));

    private static KernelParameter In(string name, ElementType type) => new(name, ParameterKind.Buffer, type, BufferAccess.ReadOnly);

    private static KernelParameter InOut(string name, ElementType type) => new(name, ParameterKind.Buffer, type, BufferAccess.ReadWrite);

    private static KernelParameter Scalar(string name, ElementType type) => new(name, ParameterKind.Scalar, type, BufferAccess.None);
}
