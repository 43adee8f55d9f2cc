from flask_restful import Resource

from api.controllers.auth import console_login
from api.controllers.common import json_body
from api.controllers.console import api
from api.extensions.database import db
from api.libs.apidoc import doc
from api.models.account import Account
from api.schemas.account import AccountNameSchema, AccountPasswordSchema, ProfileSchema
from api.services import account_service

_profile, _name, _password = ProfileSchema(), AccountNameSchema(), AccountPasswordSchema()


def _dump(account: Account) -> dict:
    return _profile.dump({
        "id": account.id, "name": account.name, "avatar": account.avatar, "avatar_url": None,
        "email": account.email, "is_password_set": bool(account.password),
        "interface_language": account.interface_language, "interface_theme": account.interface_theme,
        "timezone": account.timezone, "last_login_at": account.last_login_at,
        "last_login_ip": account.last_login_ip, "created_at": account.created_at,
    })


class ProfileApi(Resource):
    @doc("The caller's profile", response=ProfileSchema, errors=(401,))
    @console_login
    def get(self, principal):
        return _dump(principal.account)


class AccountNameApi(Resource):
    @doc("Change the caller's name", body=AccountNameSchema, response=ProfileSchema, errors=(400, 401))
    @console_login
    def post(self, principal):
        args = json_body(_name)
        return _dump(account_service.update_name(db.session, account=principal.account, name=args["name"]))


class AccountPasswordApi(Resource):
    @doc("Change the caller's password", body=AccountPasswordSchema, response=ProfileSchema, errors=(400, 401))
    @console_login
    def post(self, principal):
        args = json_body(_password)
        account = account_service.change_password(
            db.session, account=principal.account, password=args["password"], new_password=args["new_password"],
            repeat_new_password=args["repeat_new_password"])
        return _dump(account)


api.add_resource(ProfileApi, "/account/profile", endpoint="account_profile")
api.add_resource(AccountNameApi, "/account/name", endpoint="account_name")
api.add_resource(AccountPasswordApi, "/account/password", endpoint="account_password")
