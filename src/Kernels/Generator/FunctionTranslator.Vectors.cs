using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

/// <summary>
/// Vector access: Float2/Float4 values (construction, components) and Load2/Load4/Store2/Store4
/// on views and shared arrays of float. Anything else done with them is GV0023, never a guess.
/// </summary>
internal sealed partial class FunctionTranslator
{
    private static readonly string[] s_components = { "X", "Y", "Z", "W" };

    /// <summary>Whether the function loads or stores vectors on a shared array, so the kernel's float shared arrays must be 16-byte aligned.</summary>
    public bool UsesSharedVectorAccess { get; private set; }

    /// <summary>new Float4(x, y, z, w) (or target-typed new(...)) as the dialect's vector constructor.</summary>
    private string VectorCreation(BaseObjectCreationExpressionSyntax creation, string vector)
    {
        int width = Width(vector);
        if (creation.Initializer is not null)
        {
            return Fail(Diagnostics.VectorAccess, creation, Show(creation), "has an object initializer, but " + CSharpName(vector) + " has no settable members");
        }

        if (creation.ArgumentList is null || creation.ArgumentList.Arguments.Count != width)
        {
            return Fail(Diagnostics.VectorAccess, creation, Show(creation), "needs its " + width + " components, as in 'new " + CSharpName(vector) + "(" + string.Join(", ", s_components.Take(width).Select(c => c.ToLowerInvariant())) + ")'");
        }

        foreach (ArgumentSyntax argument in creation.ArgumentList.Arguments)
        {
            if (argument.NameColon is not null)
            {
                return Fail(Diagnostics.UnsupportedExpression, argument, Show(argument), " (pass arguments by position)");
            }
        }

        return _dialect.VectorConstruction(width, string.Join(", ", creation.ArgumentList.Arguments.Select(a => Expression(a.Expression))));
    }

    /// <summary>A member of Float2/Float4: a component becomes C's .x/.y/.z/.w; anything else is GV0023. Null when the receiver is no vector.</summary>
    private string? VectorMember(MemberAccessExpressionSyntax member)
    {
        ISymbol? symbol = _model.GetSymbolInfo(member).Symbol;
        string? vector = KernelTypes.Vector(symbol?.ContainingType);
        if (vector is null)
        {
            return null;
        }

        string name = member.Name.Identifier.ValueText;
        int component = System.Array.IndexOf(s_components, name);
        if (symbol is not IPropertySymbol { IsStatic: false } || component < 0 || component >= Width(vector))
        {
            return Fail(Diagnostics.VectorAccess, member, Show(member), "is not a component of " + CSharpName(vector));
        }

        return Operand(member.Expression) + "." + name.ToLowerInvariant();
    }

    /// <summary>Load2/Load4/Store2/Store4 on a view or shared array; null when the method is none of them.</summary>
    private string? VectorCall(InvocationExpressionSyntax call, IMethodSymbol method)
    {
        if (KernelTypes.Vector(method.ContainingType) is { } vector)
        {
            return Fail(Diagnostics.VectorAccess, call, Show(call), "is not a component of " + CSharpName(vector));
        }

        if (method.Name is not ("Load2" or "Load4" or "Store2" or "Store4")
            || KernelTypes.View(method.ContainingType) is not { } view
            || call.Expression is not MemberAccessExpressionSyntax access)
        {
            return null;
        }

        if (view.Element != "float")
        {
            return Fail(Diagnostics.VectorAccess, call, Show(call), "is on a " + view.Kind + "<" + view.Element + ">");
        }

        UsesSharedVectorAccess |= view.Kind == "SharedArray";
        int width = Width(method.Name);
        string pointer = Operand(access.Expression);
        string index = Expression(call.ArgumentList.Arguments[0].Expression);
        return method.Name.StartsWith("Load", System.StringComparison.Ordinal)
            ? _dialect.VectorLoad(width, pointer, index)
            : _dialect.VectorStore(width, pointer, index, Expression(call.ArgumentList.Arguments[1].Expression));
    }

    /// <summary>Group.Shared&lt;Float4&gt;: GV0023 with what to write instead; false for other element types.</summary>
    private bool ReportSharedVector(InvocationExpressionSyntax call, ITypeSymbol element)
    {
        if (KernelTypes.Vector(element) is not { } vector)
        {
            return false;
        }

        int width = Width(vector);
        Report(Diagnostics.VectorAccess, call, Show(call), "is not supported: declare Group.Shared<float>(" + width + " * N) and use Load" + width + "/Store" + width + " on it");
        return true;
    }

    /// <summary>An expression as the operand of '.' or '+': parenthesized unless it is a name, so C's precedence cannot regroup it.</summary>
    private string Operand(ExpressionSyntax expression)
    {
        string text = Expression(expression);
        return expression is IdentifierNameSyntax or ParenthesizedExpressionSyntax ? text : "(" + text + ")";
    }

    private static int Width(string vector) => vector[vector.Length - 1] - '0';

    private static string CSharpName(string vector) => "Float" + Width(vector);
}
