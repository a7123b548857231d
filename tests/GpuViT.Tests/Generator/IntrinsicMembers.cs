using System.Reflection;

namespace GpuViT.Tests.Generator;

/// <summary>
/// The kernel language's intrinsics found by reflection over the Kernels assembly: every public
/// static member of KernelMath, Group, Atomic, Warp, Mma and Async, and every index of KernelThread. Each is named
/// as the generator's intrinsic table names it ("KernelMath.Min(int, int)"), and comes with a
/// probe kernel that uses it once.
/// </summary>
public static class IntrinsicMembers
{
    /// <summary>The probe kernel's parameters: inputs and outputs of each scalar type.</summary>
    public const string Parameters =
        "ReadOnlyView<float> x, ReadOnlyView<int> k, ReadOnlyView<uint> u, ReadWriteView<float> f, ReadWriteView<int> ki, ReadWriteView<uint> ku";

    public const string SharedMember = "Group.Shared<T>(int)";

    /// <summary>The probe's parameters for a member: 16-bit views as well for Async.Copy8.</summary>
    public static string ParametersFor(string member) =>
        member.StartsWith("Async.Copy8", StringComparison.Ordinal) ? Parameters + ", ReadOnlyView<BFloat16> b16, ReadOnlyView<Half> h16" : Parameters;

    private static readonly Type[] Classes = [typeof(KernelMath), typeof(Group), typeof(Atomic), typeof(Warp), typeof(Mma), typeof(Async)];

    public static IReadOnlyDictionary<string, MemberInfo> All { get; } =
        Classes.SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Cast<MemberInfo>()
            .Concat(typeof(KernelThread).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.PropertyType == typeof(Int3) || p.PropertyType == typeof(int)))
            .ToDictionary(Name);

    public static TheoryData<string> Names => new(All.Keys.Order());

    /// <summary>A valid C name for the probe kernel of a member, unique among the members.</summary>
    public static string KernelName(string member) => "Probe_" + System.Text.RegularExpressions.Regex.Replace(member, @"\W+", "_").TrimEnd('_');

    /// <summary>The statements of a kernel that uses the member once on element i and writes the result.</summary>
    public static string Body(string member)
    {
        switch (All[member])
        {
            case PropertyInfo { PropertyType.Name: "Int32" } index:
                return $"ki[i] = thread.{index.Name};";
            case PropertyInfo index:
                return $"ki[i] = thread.{index.Name}.Y;";
            case MethodInfo { Name: "CopyAsync" } copy:
                // A group copy is a statement of the kernel body into a shared array, then the wait.
                Type element = copy.GetParameters()[0].ParameterType.GetGenericArguments()[0];
                return $"var probe = Group.Shared<{ScalarName(element)}>(4);\n{CopyCall(copy)};\nGroup.WaitCopies();\n{Output(element)}[i] = probe[0];";
            case MethodInfo { Name: "Copy4" or "Copy8" } copy:
                // An asynchronous copy of 16 bytes into a shared array, committed and waited for.
                string shared = copy.Name == "Copy4" ? "float" : "uint";
                return $"var probe = Group.Shared<{shared}>(4);\nAsync.{copy.Name}{AsyncCopyArguments(copy)};\nAsync.Commit();\nAsync.Wait(0);\n{(copy.Name == "Copy4" ? "f" : "ku")}[i] = probe[0];";
            case MethodInfo when member == SharedMember:
                // A shared array is a top-level local of constant length.
                return "var probe = Group.Shared<float>(4);\nprobe[0] = x[i];\nf[i] = probe[0];";
            case MethodInfo method:
                string call = $"{method.DeclaringType!.Name}.{method.Name}({string.Join(", ", Arguments(method))})";
                bool statement = method.ReturnType == typeof(void) || method.GetParameters().Any(p => p.ParameterType.IsByRef);
                string result = statement ? call + ";" : $"{Output(method.ReturnType)}[i] = {call};";

                // Fragments (Mma): register arrays of each element type.
                return method.GetParameters().Any(p => p.ParameterType == typeof(Span<float>) || p.ParameterType == typeof(Span<uint>))
                    ? "Span<float> rf = stackalloc float[8];\nSpan<uint> ru = stackalloc uint[8];\n" + result
                    : result;
            default:
                throw new InvalidOperationException($"no probe for '{member}'");
        }
    }

    /// <summary>
    /// The C# arguments of a probe call: for the parameter at position j, element i + j of the
    /// input of its type (so that Min(x, y) sees two values), or by ref element i of the output.
    /// </summary>
    public static IEnumerable<string> Arguments(MethodInfo method) =>
        method.GetParameters().Select(p => p.ParameterType.IsByRef
            ? "ref " + Output(p.ParameterType.GetElementType()!) + "[i]"
            : p.ParameterType == typeof(Span<float>) ? "rf"
            : p.ParameterType == typeof(Span<uint>) ? "ru"
            : Input(p.ParameterType) + (p.Position == 0 ? "[i]" : $"[i + {p.Position}]"));

    /// <summary>The probe's Group.CopyAsync call: one element from i of the source of the overload's type into probe[0].</summary>
    public static string CopyCall(MethodInfo copy)
    {
        Type element = copy.GetParameters()[0].ParameterType.GetGenericArguments()[0];
        string source = copy.GetParameters()[2].ParameterType.Name.StartsWith("ReadOnly", StringComparison.Ordinal) ? Input(element) : Output(element);
        return $"Group.CopyAsync(probe, 0, {source}, i, 1)";
    }

    /// <summary>The probe's Async.Copy4 or Copy8 arguments: 16 bytes from element 4i (8i) of the input of the overload's type into probe[0..3].</summary>
    public static string AsyncCopyArguments(MethodInfo copy)
    {
        Type element = copy.GetParameters()[2].ParameterType.GetGenericArguments()[0];
        string source = element == typeof(float) ? "x" : element == typeof(Half) ? "h16" : "b16";
        int count = copy.Name == "Copy4" ? 4 : 8;
        return $"(probe, 0, {source}, {count} * i, {count})";
    }

    /// <summary>The name of the probe's output view for a result type.</summary>
    public static string Output(Type type) => ScalarName(type) switch { "float" => "f", "int" => "ki", _ => "ku" };

    /// <summary>The name of the probe's input view for an argument type.</summary>
    public static string Input(Type type) => ScalarName(type) switch { "float" => "x", "int" => "k", _ => "u" };

    private static string Name(MemberInfo member) => member switch
    {
        MethodInfo method => method.DeclaringType!.Name + "." + method.Name
            + (method.IsGenericMethod ? "<" + string.Join(", ", method.GetGenericArguments().Select(t => t.Name)) + ">" : "")
            + "(" + string.Join(", ", method.GetParameters().Select(p => p.ParameterType.IsByRef ? "ref " + ScalarName(p.ParameterType.GetElementType()!) : ScalarName(p.ParameterType))) + ")",
        _ => member.DeclaringType!.Name + "." + member.Name,
    };

    private static string ScalarName(Type type) =>
        type == typeof(float) ? "float"
        : type == typeof(int) ? "int"
        : type == typeof(uint) ? "uint"
        : type == typeof(Half) ? "System.Half"
        : type == typeof(BFloat16) ? "GpuViT.Kernels.BFloat16"
        : type.IsGenericParameter ? type.Name
        : type == typeof(Span<float>) ? "System.Span<float>"
        : type == typeof(Span<uint>) ? "System.Span<uint>"
        : type.IsGenericType ? "GpuViT.Kernels." + type.Name[..type.Name.IndexOf('`')] + "<" + ScalarName(type.GetGenericArguments()[0]) + ">"
        : throw new InvalidOperationException($"an intrinsic takes a {type}; teach IntrinsicMembers its C# keyword and a probe argument");
}
