"""Sign-in and password forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    remember = BooleanField("Keep me signed in on this device")
    submit = SubmitField("Sign in")


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[
        DataRequired(),
        Length(min=10, max=1000, message="The password needs at least 10 characters "
                                         "(and at most 1000)."),
    ])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )
    submit = SubmitField("Set password")


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1000)])
    submit = SubmitField("Change password")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField("Send me a link")


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST-only buttons such as Sign out."""

    submit = SubmitField("Submit")
